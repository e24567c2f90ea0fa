/**
 * TOTP (RFC 6238) with SHA-1, 6 digits, 30 s steps, accepting the previous and next step for clock drift
 * (RFC 6238 §5.2). The last accepted step is stored and a code for that step or an earlier one is refused,
 * so a code is never accepted twice (RFC 6238 §5.2: "MUST NOT accept the second attempt"). Seeds are sealed.
 */
import { Secret, TOTP } from 'otpauth';
import type { Clock, Store } from '../../core/index.ts';
import type { SecretVault } from '../keys/secret-vault.ts';

const PERIOD = 30;
const WINDOW = 1;

export interface TotpEnrolment {
  secret: string;
  uri: string;
}

export class TotpFactor {
  readonly #store: Store;
  readonly #vault: SecretVault;
  readonly #clock: Clock;
  readonly #issuer: string;

  constructor(options: { store: Store; vault: SecretVault; clock: Clock; issuer: string }) {
    this.#store = options.store;
    this.#vault = options.vault;
    this.#clock = options.clock;
    this.#issuer = options.issuer;
  }

  #totp(secret: string, label: string): TOTP {
    return new TOTP({
      issuer: this.#issuer,
      label,
      algorithm: 'SHA1',
      digits: 6,
      period: PERIOD,
      secret: Secret.fromBase32(secret),
    });
  }

  /** Starts (or restarts) an enrolment: a fresh 160-bit seed, unconfirmed until a code is verified. */
  async begin(userId: string, label: string): Promise<TotpEnrolment> {
    const secret = new Secret({ size: 20 }).base32;
    // Sealed before the statement: when the vault (keys) is down, the previous enrolment stays as it was.
    const sealed = await this.#vault.seal(secret, `totp:${userId}`);
    await this.#store.execute(
      `INSERT INTO totp (user_id, secret_sealed, confirmed, last_step) VALUES (?, ?, 0, 0)
       ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, confirmed = 0, last_step = 0`,
      [userId, sealed],
    );
    return { secret, uri: this.#totp(secret, label).toString() };
  }

  async status(userId: string): Promise<'none' | 'pending' | 'confirmed'> {
    const [row] = await this.#store.query<{ confirmed: number }>(
      'SELECT confirmed FROM totp WHERE user_id = ?',
      [userId],
    );
    if (!row) return 'none';
    return Number(row.confirmed) ? 'confirmed' : 'pending';
  }

  /**
   * Checks a code; on success records its step (and confirms a pending enrolment). The update is
   * conditional on the stored step, so two concurrent submissions of one code cannot both pass.
   */
  async verify(userId: string, code: string): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false;
    const [row] = await this.#store.query<{ secret_sealed: string; last_step: number }>(
      'SELECT secret_sealed, last_step FROM totp WHERE user_id = ?',
      [userId],
    );
    if (!row) return false;
    const secret = await this.#vault.open(row.secret_sealed, `totp:${userId}`);
    const now = this.#clock.now();
    const delta = this.#totp(secret, userId).validate({ token: code, timestamp: now, window: WINDOW });
    if (delta === null) return false;
    const step = Math.floor(now / 1000 / PERIOD) + delta;
    if (step <= Number(row.last_step)) return false; // replay of an accepted code (or an older one)
    const changed = await this.#store.execute(
      'UPDATE totp SET last_step = ?, confirmed = 1 WHERE user_id = ? AND last_step = ?',
      [step, userId, row.last_step],
    );
    return changed === 1;
  }

  async remove(userId: string): Promise<void> {
    await this.#store.execute('DELETE FROM totp WHERE user_id = ?', [userId]);
  }
}
