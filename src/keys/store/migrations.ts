/**
 * The `keys` tables. Key material is only ever stored wrapped by the master key (`material`); public keys
 * of Ed25519 versions are public and kept as they are. Token values and subject keys are stored wrapped too.
 */
import type { Migration } from '../../core/index.ts';

const schema = (blob: string, bigint: string) => `
CREATE TABLE named_keys (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  latest_version INTEGER NOT NULL,
  min_decryption_version INTEGER NOT NULL,
  min_available_version INTEGER NOT NULL,
  rotation_period_ms ${bigint},
  max_uses_per_version ${bigint} NOT NULL,
  acl TEXT NOT NULL,
  created_at TEXT NOT NULL,
  rotated_at_ms ${bigint} NOT NULL
);
CREATE TABLE key_versions (
  key_name TEXT NOT NULL REFERENCES named_keys (name) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  material ${blob} NOT NULL,
  public_key ${blob},
  created_at TEXT NOT NULL,
  uses ${bigint} NOT NULL DEFAULT 0,
  PRIMARY KEY (key_name, version)
);
CREATE TABLE tokens (
  token TEXT PRIMARY KEY,
  key_name TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  format TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE subject_keys (
  subject TEXT PRIMARY KEY,
  material ${blob},
  created_at TEXT NOT NULL,
  erased_at TEXT
);
CREATE TABLE keys_meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

export const KEYS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'named keys, versions, tokens, subject keys',
    sql: { sqlite: schema('BLOB', 'INTEGER'), postgres: schema('BYTEA', 'BIGINT') },
  },
];
