/**
 * Migration from the local key-encryption key to `keys`: at start, every value the vault reports as stale
 * (a local `v1.` value) is opened and sealed again through the vault. Each row is replaced only if it still
 * holds the value that was read (compare-and-set), so two replicas migrating at once, or a user re-enrolling
 * TOTP meanwhile, never lose a write. The local key file stays: it still derives cookie and CSRF keys.
 */
import type { Store } from '../../core/index.ts';
import type { SecretVault } from './secret-vault.ts';

/** A table column holding sealed values, the key column, and the row context the values are bound to. */
interface SealedColumn {
  table: 'signing_keys' | 'totp';
  key: 'kid' | 'user_id';
  column: 'private_sealed' | 'secret_sealed';
  context(key: string): string;
}

const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    table: 'signing_keys',
    key: 'kid',
    column: 'private_sealed',
    context: (kid) => `signing-key:${kid}`,
  },
  { table: 'totp', key: 'user_id', column: 'secret_sealed', context: (id) => `totp:${id}` },
];

/** Re-seals every stale value; resolves to the number of rows moved to the vault. */
export async function resealStale(store: Store, vault: SecretVault): Promise<number> {
  let moved = 0;
  for (const c of SEALED_COLUMNS) {
    // Local values start with `v1.`; only they are read, so a migrated store costs one indexed scan.
    const rows = await store.query<{ k: string; v: string }>(
      `SELECT ${c.key} AS k, ${c.column} AS v FROM ${c.table} WHERE ${c.column} LIKE 'v1.%'`,
    );
    for (const row of rows) {
      if (!vault.stale(row.v)) continue;
      const plain = await vault.open(row.v, c.context(row.k));
      const sealed = await vault.seal(plain, c.context(row.k));
      moved += await store.execute(
        `UPDATE ${c.table} SET ${c.column} = ? WHERE ${c.key} = ? AND ${c.column} = ?`,
        [sealed, row.k, row.v],
      );
    }
  }
  return moved;
}
