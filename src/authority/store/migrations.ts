/** The authority's tables. Times are milliseconds since the epoch (BIGINT on PostgreSQL). */
import type { Migration } from '../../core/index.ts';

const COMMON = `
CREATE TABLE authority_ca (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  parent TEXT,
  cert_pem TEXT NOT NULL,
  sealed_key TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  changed_at BIGINT NOT NULL
);
CREATE TABLE authority_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE authority_join_token (
  token_hash TEXT PRIMARY KEY,
  service TEXT NOT NULL,
  spiffe_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE TABLE authority_svid (
  serial TEXT PRIMARY KEY,
  spiffe_id TEXT NOT NULL,
  issued_at BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX authority_svid_by_id ON authority_svid (spiffe_id);
CREATE TABLE authority_instance (
  id TEXT PRIMARY KEY,
  service TEXT NOT NULL,
  spiffe_id TEXT NOT NULL,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  registered_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL
);
CREATE INDEX authority_instance_by_service ON authority_instance (service);
`;

export const AUTHORITY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ca, join tokens, svids, instances, revocations',
    sql: {
      sqlite: `${COMMON}
CREATE TABLE authority_revocation (seq INTEGER PRIMARY KEY AUTOINCREMENT, serial TEXT NOT NULL, spiffe_id TEXT NOT NULL, revoked_at BIGINT NOT NULL, not_after BIGINT NOT NULL, reason TEXT NOT NULL);`,
      postgres: `${COMMON}
CREATE TABLE authority_revocation (seq BIGSERIAL PRIMARY KEY, serial TEXT NOT NULL, spiffe_id TEXT NOT NULL, revoked_at BIGINT NOT NULL, not_after BIGINT NOT NULL, reason TEXT NOT NULL);`,
    },
  },
  {
    version: 2,
    name: 'identity revocations',
    // One row per revoked SPIFFE ID, kept until a new join token for it lifts the revocation.
    sql: 'CREATE TABLE authority_identity_revocation (spiffe_id TEXT PRIMARY KEY, revoked_at BIGINT NOT NULL, reason TEXT NOT NULL);',
  },
  {
    version: 3,
    name: 'join token hosts',
    // DNS names and IP addresses the SVID may carry besides its SPIFFE ID (JSON array), so that a
    // workload serving browsers or curl on those names can use one certificate for both.
    sql: 'ALTER TABLE authority_join_token ADD COLUMN hosts TEXT;',
  },
];
