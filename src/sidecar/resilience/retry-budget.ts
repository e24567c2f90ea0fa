/**
 * A retry budget (as in Linkerd and Envoy): retries may add at most `ratio` of the recent request volume,
 * plus a small floor per second, so retries cannot multiply the load on a struggling service into a
 * retry storm. Counted over a sliding window of two half-windows.
 */
import type { Clock } from '../../core/index.ts';

export interface RetryBudgetOptions {
  /** Extra load retries may add, as a fraction of requests (0.2 = 20 %). */
  ratio: number;
  /** Retries always allowed per second, whatever the volume (so a quiet service can still retry). */
  minPerSecond: number;
  windowMs?: number;
}

export class RetryBudget {
  readonly #o: Required<RetryBudgetOptions>;
  readonly #clock: Clock;
  #bucketStart = 0;
  #current = { requests: 0, retries: 0 };
  #previous = { requests: 0, retries: 0 };

  constructor(options: RetryBudgetOptions, clock: Clock) {
    this.#o = { windowMs: 10_000, ...options };
    this.#clock = clock;
  }

  recordRequest(): void {
    this.#roll();
    this.#current.requests++;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    this.#roll();
    const requests = this.#current.requests + this.#previous.requests;
    const retries = this.#current.retries + this.#previous.retries;
    const allowed = this.#o.ratio * requests + (this.#o.minPerSecond * this.#o.windowMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.#current.retries++;
    return true;
  }

  #roll(): void {
    const half = this.#o.windowMs / 2;
    const now = this.#clock.now();
    if (now - this.#bucketStart < half) return;
    this.#previous = now - this.#bucketStart < 2 * half ? this.#current : { requests: 0, retries: 0 };
    this.#current = { requests: 0, retries: 0 };
    this.#bucketStart = now;
  }
}
