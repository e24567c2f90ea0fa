/**
 * Persistence of named keys, versions, tokens and subject keys on either engine. Everything that leaves
 * this module as bytes is wrapped key material or ciphertext; it never sees a key in the clear.
 */
import type { Queryable, Store } from '../../core/index.ts';
import type { KeyAcl, KeyType } from '../keyring/key-types.ts';

export interface KeyRecord {
  name: string;
  type: KeyType;
  latestVersion: number;
  minDecryptionVersion: number;
  minAvailableVersion: number;
  rotationPeriodMs: number | null;
  maxUsesPerVersion: number;
  acl: KeyAcl;
  createdAt: string;
  rotatedAtMs: number;
}

export interface VersionRow {
  version: number;
  material: Buffer;
  publicKey: Buffer | null;
  createdAt: string;
}

interface KeyRow extends Record<string, unknown> {
  name: string;
  type: string;
  latest_version: number;
  min_decryption_version: number;
  min_available_version: number;
  rotation_period_ms: number | null;
  max_uses_per_version: number;
  acl: string;
  created_at: string;
  rotated_at_ms: number;
}

const bytes = (value: unknown): Buffer => Buffer.from(value as Uint8Array);

function toRecord(row: KeyRow): KeyRecord {
  return {
    name: row.name,
    type: row.type as KeyType,
    latestVersion: Number(row.latest_version),
    minDecryptionVersion: Number(row.min_decryption_version),
    minAvailableVersion: Number(row.min_available_version),
    rotationPeriodMs: row.rotation_period_ms === null ? null : Number(row.rotation_period_ms),
    maxUsesPerVersion: Number(row.max_uses_per_version),
    acl: JSON.parse(row.acl) as KeyAcl,
    createdAt: row.created_at,
    rotatedAtMs: Number(row.rotated_at_ms),
  };
}

export class KeyStore {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  get engine(): string {
    return this.#store.engine;
  }

  async getKey(name: string): Promise<KeyRecord | undefined> {
    const [row] = await this.#store.query<KeyRow>('SELECT * FROM named_keys WHERE name = ?', [name]);
    return row ? toRecord(row) : undefined;
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (await this.#store.query<KeyRow>('SELECT * FROM named_keys ORDER BY name')).map(toRecord);
  }

  /** Inserts a key and its first version in one transaction; false when the name is taken. */
  async createKey(record: KeyRecord, first: VersionRow): Promise<boolean> {
    return this.#store.transaction(async (tx) => {
      const [taken] = await tx.query('SELECT name FROM named_keys WHERE name = ?', [record.name]);
      if (taken) return false;
      await tx.execute(
        'INSERT INTO named_keys (name, type, latest_version, min_decryption_version, min_available_version, rotation_period_ms, max_uses_per_version, acl, created_at, rotated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          record.name,
          record.type,
          record.latestVersion,
          record.minDecryptionVersion,
          record.minAvailableVersion,
          record.rotationPeriodMs,
          record.maxUsesPerVersion,
          JSON.stringify(record.acl),
          record.createdAt,
          record.rotatedAtMs,
        ],
      );
      await insertVersion(tx, record.name, first);
      return true;
    });
  }

  /**
   * Adds version `expected + 1` only if the key's latest version is still `expected` (two replicas rotating
   * at once add one version, not two). Resolves to whether this call added it.
   */
  async addVersion(name: string, expected: number, row: VersionRow, rotatedAtMs: number): Promise<boolean> {
    return this.#store.transaction(async (tx) => {
      const changed = await tx.execute(
        'UPDATE named_keys SET latest_version = ?, rotated_at_ms = ? WHERE name = ? AND latest_version = ?',
        [row.version, rotatedAtMs, name, expected],
      );
      if (changed !== 1) return false;
      await insertVersion(tx, name, row);
      return true;
    });
  }

  async getVersion(name: string, version: number): Promise<VersionRow | undefined> {
    const [row] = await this.#store.query(
      'SELECT version, material, public_key, created_at FROM key_versions WHERE key_name = ? AND version = ?',
      [name, version],
    );
    return row
      ? {
          version: Number(row['version']),
          material: bytes(row['material']),
          publicKey: row['public_key'] == null ? null : bytes(row['public_key']),
          createdAt: String(row['created_at']),
        }
      : undefined;
  }

  async listVersions(
    name: string,
  ): Promise<{ version: number; createdAt: string; uses: number; publicKey: Buffer | null }[]> {
    const rows = await this.#store.query(
      'SELECT version, created_at, uses, public_key FROM key_versions WHERE key_name = ? ORDER BY version',
      [name],
    );
    return rows.map((r) => ({
      version: Number(r['version']),
      createdAt: String(r['created_at']),
      uses: Number(r['uses']),
      publicKey: r['public_key'] == null ? null : bytes(r['public_key']),
    }));
  }

  /**
   * Reserves `count` uses of a version if that keeps it within `max`, in one atomic UPDATE (safe across
   * replicas). Resolves to false when the version has no room left.
   */
  async reserveUses(name: string, version: number, count: number, max: number): Promise<boolean> {
    const changed = await this.#store.execute(
      'UPDATE key_versions SET uses = uses + ? WHERE key_name = ? AND version = ? AND uses + ? <= ?',
      [count, name, version, count, max],
    );
    return changed === 1;
  }

  async updateSettings(
    name: string,
    settings: Pick<
      KeyRecord,
      'minDecryptionVersion' | 'minAvailableVersion' | 'rotationPeriodMs' | 'maxUsesPerVersion' | 'acl'
    >,
  ): Promise<void> {
    await this.#store.execute(
      'UPDATE named_keys SET min_decryption_version = ?, min_available_version = ?, rotation_period_ms = ?, max_uses_per_version = ?, acl = ? WHERE name = ?',
      [
        settings.minDecryptionVersion,
        settings.minAvailableVersion,
        settings.rotationPeriodMs,
        settings.maxUsesPerVersion,
        JSON.stringify(settings.acl),
        name,
      ],
    );
  }

  /** Deletes the versions below `version` for good (trimming) and records the new floor. */
  async trimBelow(name: string, version: number): Promise<number> {
    return this.#store.transaction(async (tx) => {
      await tx.execute('UPDATE named_keys SET min_available_version = ? WHERE name = ?', [version, name]);
      return tx.execute('DELETE FROM key_versions WHERE key_name = ? AND version < ?', [name, version]);
    });
  }

  async getMeta(name: string): Promise<string | undefined> {
    const [row] = await this.#store.query('SELECT value FROM keys_meta WHERE name = ?', [name]);
    return row ? String(row['value']) : undefined;
  }

  async setMeta(name: string, value: string): Promise<void> {
    await this.#store.transaction(async (tx) => {
      await tx.execute('DELETE FROM keys_meta WHERE name = ?', [name]);
      await tx.execute('INSERT INTO keys_meta (name, value) VALUES (?, ?)', [name, value]);
    });
  }

  async insertToken(
    token: string,
    keyName: string,
    ciphertext: string,
    format: string,
    at: string,
  ): Promise<void> {
    await this.#store.execute(
      'INSERT INTO tokens (token, key_name, ciphertext, format, created_at) VALUES (?, ?, ?, ?, ?)',
      [token, keyName, ciphertext, format, at],
    );
  }

  async getToken(token: string): Promise<{ keyName: string; ciphertext: string } | undefined> {
    const [row] = await this.#store.query('SELECT key_name, ciphertext FROM tokens WHERE token = ?', [token]);
    return row ? { keyName: String(row['key_name']), ciphertext: String(row['ciphertext']) } : undefined;
  }

  async getSubject(
    subject: string,
  ): Promise<{ material: Buffer | null; erasedAt: string | null } | undefined> {
    const [row] = await this.#store.query('SELECT material, erased_at FROM subject_keys WHERE subject = ?', [
      subject,
    ]);
    if (!row) return undefined;
    return {
      material: row['material'] == null ? null : bytes(row['material']),
      erasedAt: row['erased_at'] == null ? null : String(row['erased_at']),
    };
  }

  /** Inserts a subject key unless one (or its tombstone) exists; resolves to whether it inserted. */
  async insertSubject(subject: string, material: Buffer, at: string): Promise<boolean> {
    return this.#store.transaction(async (tx) => {
      const [exists] = await tx.query('SELECT subject FROM subject_keys WHERE subject = ?', [subject]);
      if (exists) return false;
      await tx.execute('INSERT INTO subject_keys (subject, material, created_at) VALUES (?, ?, ?)', [
        subject,
        material,
        at,
      ]);
      return true;
    });
  }

  /**
   * Overwrites the wrapped key with NULL and keeps a tombstone, so the subject cannot be re-keyed silently
   * (an erased subject stays erased). Resolves to false when the subject was already erased.
   */
  async eraseSubject(subject: string, at: string): Promise<boolean> {
    return this.#store.transaction(async (tx) => {
      const [row] = await tx.query('SELECT erased_at FROM subject_keys WHERE subject = ?', [subject]);
      if (!row) {
        await tx.execute(
          'INSERT INTO subject_keys (subject, material, created_at, erased_at) VALUES (?, NULL, ?, ?)',
          [subject, at, at],
        );
        return true;
      }
      if (row['erased_at'] != null) return false;
      await tx.execute('UPDATE subject_keys SET material = NULL, erased_at = ? WHERE subject = ?', [
        at,
        subject,
      ]);
      return true;
    });
  }
}

async function insertVersion(tx: Queryable, name: string, row: VersionRow): Promise<void> {
  await tx.execute(
    'INSERT INTO key_versions (key_name, version, material, public_key, created_at, uses) VALUES (?, ?, ?, ?, ?, 0)',
    [name, row.version, row.material, row.publicKey, row.createdAt],
  );
}
