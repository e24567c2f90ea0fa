/**
 * In-memory store for the rate-limit algorithms (one gateway process). Time comes from the injected clock,
 * so tests move time instead of waiting. Expired keys are swept when the map doubles, which bounds memory
 * by the number of keys active within one window instead of every key ever seen.
 */
import type { Clock } from '../../core/index.ts';
import {
  type Algorithm,
  type AlgorithmParams,
  type FixedState,
  fixedWindow,
  type LimitDecision,
  slidingWindow,
  tokenBucket,
} from './algorithms.ts';

type Step = (
  p: AlgorithmParams,
  s: never,
  now: number,
) => { state: object; decision: LimitDecision; expiresAt: number };

const STEPS: Record<Algorithm, Step> = {
  'fixed-window': fixedWindow as Step,
  'sliding-window': slidingWindow as Step,
  'token-bucket': tokenBucket as Step,
};

export class MemoryLimitStore {
  readonly #params: AlgorithmParams;
  readonly #step: Step;
  readonly #clock: Clock;
  readonly #entries = new Map<string, { state: object; expiresAt: number }>();
  #sweepAt = 1024;

  constructor(algorithm: Algorithm, params: AlgorithmParams, clock: Clock) {
    this.#params = params;
    this.#step = STEPS[algorithm];
    this.#clock = clock;
  }

  consume(key: string): LimitDecision {
    const now = this.#clock.now();
    const entry = this.#entries.get(key);
    const prior = entry && entry.expiresAt > now ? entry.state : undefined;
    const { state, decision, expiresAt } = this.#step(this.#params, prior as never, now);
    this.#entries.set(key, { state, expiresAt });
    if (this.#entries.size >= this.#sweepAt) this.#sweep(now);
    return decision;
  }

  /**
   * Up to `want` points of a fixed window at once, for a worker's lease (see workers/remote-counters.ts);
   * the other algorithms are asked one point per request.
   */
  lease(key: string, want: number): { granted: number; decision: LimitDecision; endsAt: number } {
    if (this.#step !== (fixedWindow as Step)) throw new Error('only fixed windows are leased');
    const now = this.#clock.now();
    const entry = this.#entries.get(key);
    const prior = entry && entry.expiresAt > now ? (entry.state as FixedState) : undefined;
    const { state, decision, expiresAt, granted } = fixedWindow(this.#params, prior, now, want);
    this.#entries.set(key, { state, expiresAt });
    if (this.#entries.size >= this.#sweepAt) this.#sweep(now);
    return { granted, decision, endsAt: expiresAt };
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops the keys whose window has passed; returns how many are left. */
  prune(): number {
    this.#sweep(this.#clock.now());
    return this.#entries.size;
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
    this.#sweepAt = Math.max(1024, this.#entries.size * 2);
  }
}
