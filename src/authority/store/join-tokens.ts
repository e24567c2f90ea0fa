/**
 * One-time join tokens: how a workload proves, once, that an operator meant it to be `service`. Only a
 * SHA-256 of the token is stored (a database leak yields no usable token), and redemption is one
 * conditional UPDATE, so two concurrent redemptions of one token cannot both succeed, on either engine.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock, Store } from '../../core/index.ts';
import { authorityError } from '../errors.ts';
import { type IdentityRevocation, identityRevocation, lockIdentity } from './identity-guard.ts';

export interface JoinTokenGrant {
  token: string;
  service: string;
  spiffeId: string;
  expiresAt: number;
  /** DNS names and IP addresses the SVID will carry besides its SPIFFE ID. */
  hosts: string[];
  /** The identity revocation this token lifted, if the identity was revoked. */
  reinstated?: IdentityRevocation;
}

const hash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

export class JoinTokens {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /**
   * A new token for `spiffeId`. An operator making one for a revoked identity means to readmit it: the
   * identity revocation is lifted in the same transaction, under the identity's lock, so a concurrent
   * revocation either comes after (and burns this token) or before (and is lifted by it). SVIDs revoked
   * earlier stay revoked; only the holder of this token can obtain a new one.
   */
  async create(
    service: string,
    spiffeId: string,
    ttlMs: number,
    hosts: readonly string[] = [],
  ): Promise<JoinTokenGrant> {
    // 256 bits from the CSPRNG: not guessable within the token's lifetime.
    const token = `bjt_${randomBytes(32).toString('base64url')}`;
    const now = this.#clock.now();
    const reinstated = await this.#store.transaction(async (tx) => {
      await lockIdentity(this.#store.engine, tx, spiffeId);
      const revocation = await identityRevocation(tx, spiffeId);
      if (revocation) {
        await tx.execute('DELETE FROM authority_identity_revocation WHERE spiffe_id = ?', [spiffeId]);
      }
      await tx.execute(
        'INSERT INTO authority_join_token (token_hash, service, spiffe_id, created_at, expires_at, used_at, hosts) VALUES (?, ?, ?, ?, ?, NULL, ?)',
        [hash(token), service, spiffeId, now, now + ttlMs, hosts.length ? JSON.stringify(hosts) : null],
      );
      return revocation;
    });
    return {
      token,
      service,
      spiffeId,
      expiresAt: now + ttlMs,
      hosts: [...hosts],
      ...(reinstated ? { reinstated } : {}),
    };
  }

  /** Marks the token used and returns the identity it grants; throws `authority_join_token_invalid`. */
  async redeem(token: string): Promise<{ service: string; spiffeId: string; hosts: string[] }> {
    const refused = () => authorityError('authority_join_token_invalid', 'the join token is not valid');
    if (typeof token !== 'string' || !token.startsWith('bjt_') || token.length > 100) throw refused();
    const now = this.#clock.now();
    return this.#store.transaction(async (tx) => {
      const changed = await tx.execute(
        'UPDATE authority_join_token SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?',
        [now, hash(token), now],
      );
      if (changed !== 1) throw refused();
      const [row] = await tx.query<{ service: string; spiffe_id: string; hosts: string | null }>(
        'SELECT service, spiffe_id, hosts FROM authority_join_token WHERE token_hash = ?',
        [hash(token)],
      );
      if (!row) throw refused();
      return {
        service: row.service,
        spiffeId: row.spiffe_id,
        hosts: row.hosts ? (JSON.parse(row.hosts) as string[]) : [],
      };
    });
  }
}
