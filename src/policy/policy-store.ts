/**
 * What `policy` keeps: the policy documents written through the API, and every bundle version it has
 * served (so a gateway can be told exactly which version decided, and the console can diff two).
 */
import type { Migration, Store } from '../core/index.ts';
import type { BundleDocument } from '../core/policy-engine/index.ts';

export const POLICY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'documents and bundles',
    sql: `CREATE TABLE policy_documents (name TEXT PRIMARY KEY, text TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE policy_bundles (version INTEGER PRIMARY KEY, hash TEXT NOT NULL, created_at TEXT NOT NULL, document TEXT NOT NULL);`,
  },
];

export interface StoredDocument {
  name: string;
  text: string;
  updatedAt: string;
}

export interface BundleVersion {
  version: number;
  hash: string;
  createdAt: string;
}

/** @example const store = new PolicyStore(context.openStore()); await store.migrate(); */
export class PolicyStore {
  readonly #store: Store;
  constructor(store: Store) {
    this.#store = store;
  }

  async migrate(): Promise<void> {
    await this.#store.migrate(POLICY_MIGRATIONS);
  }

  async documents(): Promise<StoredDocument[]> {
    const rows = await this.#store.query<{ name: string; text: string; updated_at: string }>(
      'SELECT name, text, updated_at FROM policy_documents ORDER BY name',
    );
    return rows.map((r) => ({ name: r.name, text: r.text, updatedAt: r.updated_at }));
  }

  async latest(): Promise<BundleVersion | undefined> {
    const [row] = await this.#store.query<{ version: number; hash: string; created_at: string }>(
      'SELECT version, hash, created_at FROM policy_bundles ORDER BY version DESC LIMIT 1',
    );
    return row ? { version: Number(row.version), hash: row.hash, createdAt: row.created_at } : undefined;
  }

  async versions(limit: number): Promise<BundleVersion[]> {
    const rows = await this.#store.query<{ version: number; hash: string; created_at: string }>(
      'SELECT version, hash, created_at FROM policy_bundles ORDER BY version DESC LIMIT ?',
      [limit],
    );
    return rows.map((r) => ({ version: Number(r.version), hash: r.hash, createdAt: r.created_at }));
  }

  async bundle(version: number): Promise<BundleDocument | undefined> {
    const [row] = await this.#store.query<{ document: string }>(
      'SELECT document FROM policy_bundles WHERE version = ?',
      [version],
    );
    return row ? (JSON.parse(row.document) as BundleDocument) : undefined;
  }

  /**
   * One write, serialized against every other (a PostgreSQL advisory lock across replicas; SQLite has one
   * connection): applies the document change, lets `build` compile the resulting set from the documents as
   * they now are (throwing rolls everything back), and records a new version unless the content is the
   * latest one's. Composing inside the lock is what keeps two concurrent writes from each building a bundle
   * without the other's document.
   */
  async commit<T extends { hash: string }>(
    change: { name: string; text: string | null; at: string } | undefined,
    build: (documents: StoredDocument[], existed: boolean) => T,
    toDocument: (built: T, version: number) => BundleDocument,
  ): Promise<{ built: T; document: BundleDocument; created: boolean; existed: boolean }> {
    return this.#store.transaction(async (tx) => {
      if (this.#store.engine === 'postgres') {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext(?))', ['bulwark.policy.bundles']);
      }
      const [before] = await tx.query<{ n: number }>(
        'SELECT COUNT(*) AS n FROM policy_documents WHERE name = ?',
        [change?.name ?? ''],
      );
      const existed = Number(before?.n ?? 0) > 0;
      if (change) {
        await tx.execute('DELETE FROM policy_documents WHERE name = ?', [change.name]);
        if (change.text !== null) {
          await tx.execute('INSERT INTO policy_documents (name, text, updated_at) VALUES (?, ?, ?)', [
            change.name,
            change.text,
            change.at,
          ]);
        }
      }
      const rows = await tx.query<{ name: string; text: string; updated_at: string }>(
        'SELECT name, text, updated_at FROM policy_documents ORDER BY name',
      );
      const built = build(
        rows.map((r) => ({ name: r.name, text: r.text, updatedAt: r.updated_at })),
        existed,
      );
      const [latest] = await tx.query<{ version: number; hash: string; document: string }>(
        'SELECT version, hash, document FROM policy_bundles ORDER BY version DESC LIMIT 1',
      );
      if (latest && latest.hash === built.hash) {
        return { built, document: JSON.parse(latest.document) as BundleDocument, created: false, existed };
      }
      const document = toDocument(built, Number(latest?.version ?? 0) + 1);
      await tx.execute(
        'INSERT INTO policy_bundles (version, hash, created_at, document) VALUES (?, ?, ?, ?)',
        [document.version, document.hash, document.createdAt, JSON.stringify(document)],
      );
      return { built, document, created: true, existed };
    });
  }
}
