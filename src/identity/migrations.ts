/**
 * The identity component's tables, the same SQL on both engines. Times are epoch milliseconds (BIGINT).
 * Secrets never sit in clear: password and code hashes (Argon2id / SHA-256), sealed TOTP seeds and
 * signing keys (AES-256-GCM, see keys/key-encryption.ts).
 */
import type { Migration } from '../core/index.ts';

export const IDENTITY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'oidc artefacts, signing keys, revocations',
    sql: `
CREATE TABLE oidc_models (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, uid TEXT, user_code TEXT, expires_at BIGINT, consumed_at BIGINT, PRIMARY KEY (model, id));
CREATE INDEX oidc_models_grant ON oidc_models (grant_id);
CREATE INDEX oidc_models_uid ON oidc_models (uid);
CREATE INDEX oidc_models_expiry ON oidc_models (expires_at);
CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, state TEXT NOT NULL, private_sealed TEXT NOT NULL, public_jwk TEXT NOT NULL, created_at BIGINT NOT NULL, activated_at BIGINT, retired_at BIGINT);
CREATE TABLE revocations (kind TEXT NOT NULL, value TEXT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (kind, value));
CREATE INDEX revocations_time ON revocations (revoked_at);
`,
  },
  {
    version: 2,
    name: 'users, roles, MFA, throttling',
    sql: `
CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, email TEXT UNIQUE, password_hash TEXT, status TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE roles (name TEXT PRIMARY KEY, description TEXT NOT NULL, permissions TEXT NOT NULL, mfa_required INTEGER NOT NULL);
CREATE TABLE role_assignments (subject_type TEXT NOT NULL, subject_id TEXT NOT NULL, role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE, PRIMARY KEY (subject_type, subject_id, role));
CREATE TABLE totp (user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE, secret_sealed TEXT NOT NULL, confirmed INTEGER NOT NULL, last_step BIGINT NOT NULL);
CREATE TABLE recovery_codes (user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, code_hash TEXT NOT NULL, used_at BIGINT, PRIMARY KEY (user_id, code_hash));
CREATE TABLE passkeys (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, public_key TEXT NOT NULL, counter BIGINT NOT NULL, transports TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE challenges (id TEXT PRIMARY KEY, user_id TEXT, challenge TEXT NOT NULL, purpose TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE invitations (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, expires_at BIGINT NOT NULL, used_at BIGINT);
CREATE TABLE throttle (key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failure_at BIGINT NOT NULL, blocked_until BIGINT NOT NULL);
CREATE TABLE interaction_state (uid TEXT PRIMARY KEY, user_id TEXT NOT NULL, amr TEXT NOT NULL, mfa_failures INTEGER NOT NULL, expires_at BIGINT NOT NULL);
`,
  },
];
