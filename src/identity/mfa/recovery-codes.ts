/**
 * One-time recovery codes: ten random 10-character codes (50 bits each), shown once, stored only as
 * SHA-256 digests salted with the user id; each works once. A fast hash is enough for random codes of this
 * size behind the MFA throttle; they are not passwords.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Clock, Store } from '../../core/index.ts';

const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no 0/o/1/l/i: read aloud and typed by people
const COUNT = 10;
const LENGTH = 10;

const digest = (userId: string, code: string) =>
  createHash('sha256')
    .update(`${userId}:${code.replace(/[\s-]/g, '').toLowerCase()}`)
    .digest('hex');

export class RecoveryCodes {
  readonly #store: Store;
  readonly #clock: Clock;
  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Replaces the user's codes with fresh ones and returns them (the only time they exist in clear). */
  async generate(userId: string): Promise<string[]> {
    const codes = Array.from({ length: COUNT }, () =>
      Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''),
    );
    await this.#store.transaction(async (tx) => {
      await tx.execute('DELETE FROM recovery_codes WHERE user_id = ?', [userId]);
      for (const c of codes) {
        await tx.execute('INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES (?, ?, NULL)', [
          userId,
          digest(userId, c),
        ]);
      }
    });
    return codes.map((c) => `${c.slice(0, 5)}-${c.slice(5)}`);
  }

  /** Consumes a code; false when unknown or already used. */
  async use(userId: string, code: string): Promise<boolean> {
    const changed = await this.#store.execute(
      'UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL',
      [this.#clock.now(), userId, digest(userId, code)],
    );
    return changed === 1;
  }

  async remaining(userId: string): Promise<number> {
    const [row] = await this.#store.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL',
      [userId],
    );
    return Number(row?.n ?? 0);
  }
}
