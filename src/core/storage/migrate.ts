/**
 * Versioned migrations, shared by both engines. Each migration runs in its own transaction together with
 * the row that records it, so a crash leaves it either applied and recorded or neither. The recorded
 * checksum catches a migration edited after release, which would otherwise leave databases that claim the
 * same version but differ.
 */
import { createHash } from 'node:crypto';
import { StorageError } from '../errors.ts';
import type { Migration, MigrationReport, Queryable, Store } from './types.ts';

const TABLE = 'bulwark_migrations';

export async function runMigrations(
  store: Store,
  migrations: readonly Migration[],
  lock: (tx: Queryable) => Promise<void>,
): Promise<MigrationReport> {
  checkOrder(migrations);
  // Created only when missing: on PostgreSQL even CREATE TABLE IF NOT EXISTS needs CREATE on the schema,
  // which a service logged in as an insert-only role (migrated earlier by the owner) does not have.
  const exists = await store.query(`SELECT version FROM ${TABLE} LIMIT 1`).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await store.execute(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`,
    );
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    const text = typeof migration.sql === 'string' ? migration.sql : migration.sql[store.engine];
    const checksum = createHash('sha256').update(text).digest('hex');
    await store.transaction(async (tx) => {
      // Several replicas may start at once (cluster mode): the lock makes one of them migrate.
      await lock(tx);
      const [row] = await tx.query<{ checksum: string }>(`SELECT checksum FROM ${TABLE} WHERE version = ?`, [
        migration.version,
      ]);
      if (row) {
        if (row.checksum !== checksum) {
          throw new StorageError(
            'storage_migration_tampered',
            `${store.namespace} migration ${migration.version} (${migration.name}) differs from the one applied to this database`,
          );
        }
        return;
      }
      for (const statement of splitStatements(text)) {
        try {
          await tx.execute(statement);
        } catch (cause) {
          throw new StorageError(
            'storage_migration_failed',
            `${store.namespace} migration ${migration.version} (${migration.name}) failed: ${cause instanceof Error ? cause.message : String(cause)}`,
            { cause },
          );
        }
      }
      await tx.execute(`INSERT INTO ${TABLE} (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`, [
        migration.version,
        migration.name,
        checksum,
        new Date().toISOString(),
      ]);
      applied.push(migration.version);
    });
  }
  const [current] = await store.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${TABLE}`);
  return { applied, current: Number(current?.v ?? 0) };
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new TypeError(`migration versions must be 1, 2, 3...; found ${m.version} at position ${i + 1}`);
  });
}

/**
 * Splits a migration on `;` at the end of a line. Function bodies (PostgreSQL `$$ ... $$`) are kept whole;
 * migrations are our own code, never user input.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inDollar = false;
  for (const line of text.split('\n')) {
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inDollar = !inDollar;
    current += `${line}\n`;
    if (!inDollar && /;\s*$/.test(line)) {
      out.push(current.trim().replace(/;$/, ''));
      current = '';
    }
  }
  if (current.trim()) out.push(current.trim().replace(/;$/, ''));
  return out.filter((s) => s.length > 0);
}
