/**
 * A circuit breaker per upstream service: after `failureThreshold` consecutive failed calls it opens and
 * fails calls fast for `openMs`; then it lets one probe through (half-open) and closes on its success or
 * opens again on its failure. It protects a failing service from load, and callers from waiting on it.
 */
import type { Clock } from '../../core/index.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
}

export class CircuitBreaker {
  readonly #o: CircuitBreakerOptions;
  readonly #clock: Clock;
  #failures = 0;
  #openedAt = 0;
  #state: CircuitState = 'closed';
  #probing = false;

  constructor(options: CircuitBreakerOptions, clock: Clock) {
    this.#o = options;
    this.#clock = clock;
  }

  get state(): CircuitState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#o.openMs)
      this.#state = 'half-open';
    return this.#state;
  }

  /** Whether a call may go out now (in half-open state, only one probe at a time). */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'half-open' && !this.#probing) {
      this.#probing = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
    this.#state = 'closed';
  }

  failure(): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half-open' || this.#failures >= this.#o.failureThreshold) {
      this.#state = 'open';
      this.#openedAt = this.#clock.now();
    }
  }
}
