/**
 * Bulwark's own record of revoked access tokens. oidc-provider never stores JWT access tokens, so RFC 7009
 * revocation of one, or revoking its grant (refresh reuse, code replay, logout), would stop nothing by
 * itself. Every access token carries its `jti` and `gid` (a SHA-256 digest of its grant id, so the grant id
 * itself is never disclosed); this list holds revoked values of both until the tokens they cover expire.
 * Introspection consults it, and gateways fetch it (`GET /revocations`) to refuse revoked tokens locally.
 */
import { createHash } from 'node:crypto';
import type { Clock, Store } from '../../core/index.ts';

export type RevocationKind = 'jti' | 'grant';

export interface Revocation {
  kind: RevocationKind;
  value: string;
  expiresAt: number;
  revokedAt: number;
  reason: string;
}

/** The `gid` claim of an access token issued under `grantId`. */
export function grantDigest(grantId: string): string {
  return createHash('sha256').update(grantId).digest('base64url');
}

export class RevocationList {
  readonly #store: Store;
  readonly #clock: Clock;
  /** How long a revoked grant can still have live access tokens (the longest access-token TTL). */
  readonly #grantRetentionMs: number;
  readonly #cache = new Map<string, number>();
  #syncedUntil = 0;

  constructor(options: { store: Store; clock: Clock; grantRetentionMs: number }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#grantRetentionMs = options.grantRetentionMs;
  }

  /** Loads revocations recorded since the last sync (also those made by other replicas). */
  async sync(): Promise<void> {
    const now = this.#clock.now();
    const rows = await this.#store.query<{
      kind: string;
      value: string;
      expires_at: number;
      revoked_at: number;
    }>(
      'SELECT kind, value, expires_at, revoked_at FROM revocations WHERE revoked_at >= ? AND expires_at > ?',
      [this.#syncedUntil - 5000, now],
    );
    for (const r of rows) this.#cache.set(`${r.kind}:${r.value}`, Number(r.expires_at));
    for (const [key, exp] of this.#cache) if (exp <= now) this.#cache.delete(key);
    this.#syncedUntil = now;
  }

  async revokeJti(jti: string, expiresAtMs: number, reason: string): Promise<void> {
    await this.#add('jti', jti, expiresAtMs, reason);
  }

  async revokeGrant(grantId: string, reason: string): Promise<void> {
    await this.#add('grant', grantDigest(grantId), this.#clock.now() + this.#grantRetentionMs, reason);
  }

  /** Whether an access token with these claims has been revoked. */
  isRevoked(claims: { jti?: unknown; gid?: unknown }): boolean {
    const now = this.#clock.now();
    for (const key of [`jti:${String(claims.jti)}`, `grant:${String(claims.gid)}`]) {
      const exp = this.#cache.get(key);
      if (exp !== undefined && exp > now) return true;
    }
    return false;
  }

  /** Unexpired revocations, for gateways (`since` in epoch ms lets them fetch only what is new). */
  async list(since = 0): Promise<Revocation[]> {
    const rows = await this.#store.query<{
      kind: RevocationKind;
      value: string;
      expires_at: number;
      revoked_at: number;
      reason: string;
    }>(
      'SELECT kind, value, expires_at, revoked_at, reason FROM revocations WHERE revoked_at >= ? AND expires_at > ? ORDER BY revoked_at',
      [since, this.#clock.now()],
    );
    return rows.map((r) => ({
      kind: r.kind,
      value: r.value,
      expiresAt: Number(r.expires_at),
      revokedAt: Number(r.revoked_at),
      reason: r.reason,
    }));
  }

  async purge(): Promise<void> {
    await this.#store.execute('DELETE FROM revocations WHERE expires_at <= ?', [this.#clock.now()]);
  }

  async #add(kind: RevocationKind, value: string, expiresAt: number, reason: string): Promise<void> {
    const now = this.#clock.now();
    await this.#store.execute(
      `INSERT INTO revocations (kind, value, expires_at, revoked_at, reason) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (kind, value) DO UPDATE SET expires_at = excluded.expires_at`,
      [kind, value, expiresAt, now, reason],
    );
    this.#cache.set(`${kind}:${value}`, expiresAt);
  }
}
