/**
 * Brute-force protection that an attacker cannot turn into a lockout weapon (OWASP Authentication Cheat
 * Sheet, "device cookies"; NIST SP 800-63B §5.2.2 caps consecutive failures at 100).
 *
 * Counters are kept per key: `acct:<user>` for attempts from unknown devices, `dev:<device>` for a browser
 * that has signed in to that account before (it keeps its own, separate budget, so an attacker hammering
 * the account does not lock its owner out), `ip:<address>` for spraying across accounts, `mfa:<user>` for
 * second-factor codes. After `free` failures each further failure adds a doubling delay; at `cap`
 * consecutive failures the key is blocked for `lockMs`. Attempts refused because of a delay are not
 * checked and not counted: only real credential failures count.
 */
import type { Clock, Store } from '../../core/index.ts';

export interface ThrottleRule {
  /** Failures allowed before delays start. */
  free: number;
  /** Consecutive failures that block the key for `lockMs` (far below NIST's 100). */
  cap: number;
  baseDelayMs: number;
  maxDelayMs: number;
  lockMs: number;
}

export type ThrottleScope = 'acct' | 'dev' | 'ip' | 'mfa';

export const DEFAULT_RULES: Record<ThrottleScope, ThrottleRule> = {
  acct: { free: 5, cap: 20, baseDelayMs: 1000, maxDelayMs: 300_000, lockMs: 3_600_000 },
  dev: { free: 5, cap: 10, baseDelayMs: 1000, maxDelayMs: 60_000, lockMs: 3_600_000 },
  ip: { free: 20, cap: 60, baseDelayMs: 500, maxDelayMs: 60_000, lockMs: 3_600_000 },
  mfa: { free: 3, cap: 6, baseDelayMs: 2000, maxDelayMs: 120_000, lockMs: 900_000 },
};

export interface ThrottleVerdict {
  allowed: boolean;
  /** Milliseconds until the next attempt is looked at, when not allowed. */
  retryAfterMs: number;
  /** The key that refused. */
  key?: string;
}

export interface FailureOutcome {
  failures: number;
  /** True when this failure reached the cap (a lockout, which is audited). */
  locked: boolean;
}

export class Throttle {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #rules: Record<ThrottleScope, ThrottleRule>;

  constructor(store: Store, clock: Clock, rules: Record<ThrottleScope, ThrottleRule> = DEFAULT_RULES) {
    this.#store = store;
    this.#clock = clock;
    this.#rules = rules;
  }

  async check(keys: readonly string[]): Promise<ThrottleVerdict> {
    if (keys.length === 0) return { allowed: true, retryAfterMs: 0 };
    const now = this.#clock.now();
    const rows = await this.#store.query<{ key: string; blocked_until: number }>(
      `SELECT key, blocked_until FROM throttle WHERE key IN (${keys.map(() => '?').join(', ')})`,
      keys,
    );
    let worst: ThrottleVerdict = { allowed: true, retryAfterMs: 0 };
    for (const r of rows) {
      const wait = Number(r.blocked_until) - now;
      if (wait > worst.retryAfterMs) worst = { allowed: false, retryAfterMs: wait, key: r.key };
    }
    return worst;
  }

  async fail(key: string): Promise<FailureOutcome> {
    const rule = this.#rules[key.slice(0, key.indexOf(':')) as ThrottleScope];
    if (!rule) throw new TypeError(`no throttle rule for ${key}`);
    const now = this.#clock.now();
    const [row] = await this.#store.query<{ failures: number; last_failure_at: number }>(
      'SELECT failures, last_failure_at FROM throttle WHERE key = ?',
      [key],
    );
    // A key left alone for `lockMs` starts afresh: old failures do not pile up forever.
    const stale = !row || now - Number(row.last_failure_at) > rule.lockMs;
    const failures = (stale ? 0 : Number(row.failures)) + 1;
    const locked = failures >= rule.cap;
    let delay = 0;
    if (locked) delay = rule.lockMs;
    else if (failures > rule.free)
      delay = Math.min(rule.baseDelayMs * 2 ** (failures - rule.free - 1), rule.maxDelayMs);
    await this.#store.execute(
      `INSERT INTO throttle (key, failures, last_failure_at, blocked_until) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until`,
      [key, locked ? 0 : failures, now, now + delay],
    );
    return { failures, locked };
  }

  async succeed(key: string): Promise<void> {
    await this.#store.execute('DELETE FROM throttle WHERE key = ?', [key]);
  }

  /** Admin unlock of an account (both its untrusted-device and MFA counters). */
  async unlock(userId: string): Promise<void> {
    await this.#store.execute('DELETE FROM throttle WHERE key = ? OR key = ?', [
      `acct:${userId}`,
      `mfa:${userId}`,
    ]);
  }
}
