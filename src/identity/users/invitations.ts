/**
 * Invitations: an admin creates a user without a password and gets a one-time link (256-bit token, stored
 * as a SHA-256 digest, valid 72 hours) through which the user chooses a password.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock, Store } from '../../core/index.ts';
import { identityError } from '../errors.ts';

export const INVITATION_TTL_MS = 72 * 3_600_000;

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class Invitations {
  readonly #store: Store;
  readonly #clock: Clock;
  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async create(userId: string): Promise<{ token: string; expiresAt: string }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.#clock.now() + INVITATION_TTL_MS;
    await this.#store.execute(
      'INSERT INTO invitations (token_hash, user_id, expires_at, used_at) VALUES (?, ?, ?, NULL)',
      [digest(token), userId, expiresAt],
    );
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** The invited user's id, when the token is valid and unused. */
  async peek(token: string): Promise<string | undefined> {
    const [row] = await this.#store.query<{ user_id: string; expires_at: number; used_at: number | null }>(
      'SELECT user_id, expires_at, used_at FROM invitations WHERE token_hash = ?',
      [digest(token)],
    );
    if (!row || row.used_at !== null || Number(row.expires_at) <= this.#clock.now()) return undefined;
    return row.user_id;
  }

  /** Marks the token used (once: a second use fails even when concurrent). */
  async consume(token: string): Promise<string> {
    const userId = await this.peek(token);
    const changed = userId
      ? await this.#store.execute(
          'UPDATE invitations SET used_at = ? WHERE token_hash = ? AND used_at IS NULL',
          [this.#clock.now(), digest(token)],
        )
      : 0;
    if (!userId || changed !== 1)
      throw identityError('identity_invitation_invalid', 'this invitation is unknown, used or expired');
    return userId;
  }
}
