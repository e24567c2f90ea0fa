/**
 * A per-target circuit breaker: after `failures` consecutive failures the target is skipped for `openMs`,
 * then one trial request decides whether it closes again. Stops a failing upstream from being hammered
 * and from slowing every request that would wait on it. Trusts: outcomes reported by the upstream stage.
 */
import type { Clock } from '../../core/index.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #clock: Clock;
  readonly #threshold: number;
  readonly #openMs: number;
  #failures = 0;
  #openedAt = 0;
  #state: BreakerState = 'closed';
  #trialInFlight = false;

  constructor(clock: Clock, threshold = 5, openMs = 10_000) {
    this.#clock = clock;
    this.#threshold = threshold;
    this.#openMs = openMs;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#openMs)
      this.#state = 'half-open';
    return this.#state;
  }

  /** Whether a request may go to this target now (takes the single half-open trial slot). */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  /** The request ended with no verdict on the target (the client left): frees a half-open trial slot. */
  release(): void {
    this.#trialInFlight = false;
  }

  success(): void {
    this.#failures = 0;
    this.#trialInFlight = false;
    this.#state = 'closed';
  }

  failure(): void {
    this.#trialInFlight = false;
    this.#failures++;
    if (this.#state === 'half-open' || this.#failures >= this.#threshold) {
      this.#state = 'open';
      this.#openedAt = this.#clock.now();
    }
  }
}
