/**
 * Revoked access tokens, by token id (`jti`) or by grant (`gid`, the digest `identity` puts in every access
 * token so that revoking a grant covers all its tokens), kept until the tokens would have expired anyway.
 * Entries arrive pushed to the admin API (`POST /v1/gateway/revocations`) or polled from identity's feed
 * (`revocation-feed.ts`). A check is a map lookup, so it runs on every request, verified-token cache hits
 * included. Trusts: the admin API caller (operator role) and identity's authenticated feed.
 */
import type { Clock } from '../../core/index.ts';

export type RevocationKind = 'jti' | 'grant';

export interface Revocation {
  value: string;
  /** ms since the epoch. */
  expiresAt: number;
  kind: RevocationKind;
}

export class RevocationList {
  readonly #clock: Clock;
  readonly #revoked = new Map<string, number>();
  readonly #listeners = new Set<(revocation: Revocation) => void>();
  readonly #max: number;

  constructor(clock: Clock, max = 1_000_000) {
    this.#clock = clock;
    this.#max = max;
  }

  /** Revokes a token id (or, with kind `grant`, every token of a grant) until `expiresAt` (ms since the epoch). */
  revoke(value: string, expiresAt: number, kind: RevocationKind = 'jti'): void {
    if (this.#revoked.size >= this.#max) this.purge();
    const key = `${kind}:${value}`;
    this.#revoked.set(key, Math.max(expiresAt, this.#revoked.get(key) ?? 0));
    for (const listener of this.#listeners) listener({ value, expiresAt, kind });
  }

  /** Every revocation still in force (for a gateway worker process that starts later). */
  snapshot(): Revocation[] {
    const now = this.#clock.now();
    const out: Revocation[] = [];
    for (const [key, until] of this.#revoked) {
      if (until <= now) continue;
      const colon = key.indexOf(':');
      out.push({
        value: key.slice(colon + 1),
        expiresAt: until,
        kind: key.slice(0, colon) as RevocationKind,
      });
    }
    return out;
  }

  /** Called with each revocation as it is made; returns a function that stops the calls. */
  onRevoke(listener: (revocation: Revocation) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  isRevoked(jti: string | undefined, grant?: string): boolean {
    if (this.#revoked.size === 0) return false;
    return (
      this.#active(jti === undefined ? undefined : `jti:${jti}`) ||
      this.#active(grant === undefined ? undefined : `grant:${grant}`)
    );
  }

  #active(key: string | undefined): boolean {
    if (key === undefined) return false;
    const until = this.#revoked.get(key);
    return until !== undefined && until > this.#clock.now();
  }

  purge(): void {
    const now = this.#clock.now();
    for (const [key, until] of this.#revoked) if (until <= now) this.#revoked.delete(key);
  }

  get size(): number {
    return this.#revoked.size;
  }
}
