/**
 * In-memory store for the rate-limit algorithms (one gateway process). Time comes from the injected clock,
 * so tests move time instead of waiting. Expired keys are swept when the map doubles, which bounds memory
 * by the number of keys active within one window instead of every key ever seen, and never beyond
 * {@link MAX_KEYS} keys: the least recently used then make room.
 */
import type { Clock } from '../../core/index.ts';
import {
  type Algorithm,
  type AlgorithmParams,
  fixedWindow,
  type LimitDecision,
  type Step,
  slidingWindow,
  tokenBucket,
} from './algorithms.ts';

type StepFn = (p: AlgorithmParams, s: never, now: number, take: number) => Step<object>;

const STEPS: Record<Algorithm, StepFn> = {
  'fixed-window': fixedWindow as StepFn,
  'sliding-window': slidingWindow as StepFn,
  'token-bucket': tokenBucket as StepFn,
};

/** Keys one rule keeps in memory at most (~40 MB of state): beyond, the least recently used go. */
export const MAX_KEYS = 200_000;

export class MemoryLimitStore {
  readonly #params: AlgorithmParams;
  readonly #step: StepFn;
  readonly #clock: Clock;
  readonly #entries = new Map<string, { state: object; expiresAt: number }>();
  readonly #maxKeys: number;
  #sweepAt = 1024;

  constructor(algorithm: Algorithm, params: AlgorithmParams, clock: Clock, maxKeys = MAX_KEYS) {
    this.#params = params;
    this.#step = STEPS[algorithm];
    this.#clock = clock;
    this.#maxKeys = maxKeys;
  }

  consume(key: string): LimitDecision {
    return this.#take(key, 1, this.#clock.now()).decision;
  }

  /**
   * Up to `want` points at once, for a worker's lease (see workers/remote-counters.ts): how many were
   * granted, the decision about the first, and until when (this clock, epoch ms) the answer holds.
   */
  lease(
    key: string,
    want: number,
  ): { granted: number; decision: LimitDecision; holdsMs: number; endsAt: number } {
    const now = this.#clock.now();
    const { granted, decision, holdsMs } = this.#take(key, want, now);
    return { granted, decision, holdsMs, endsAt: now + holdsMs };
  }

  #take(key: string, want: number, now: number): Step<object> {
    const entry = this.#entries.get(key);
    const prior = entry && entry.expiresAt > now ? entry.state : undefined;
    const step = this.#step(this.#params, prior as never, now, want);
    this.#put(key, entry !== undefined, { state: step.state, expiresAt: step.expiresAt }, now);
    return step;
  }

  /**
   * Stores a key's state within {@link MAX_KEYS}, as nginx's limit_req does in a full zone: the least
   * recently used key makes room (expired keys are swept as the map doubles, below the cap). Once the map
   * is half full a used key is moved to the end (Map order is insertion order), so the oldest are those
   * unused longest: a client flooding new keys evicts its own throwaway keys, not the counter of the key
   * it is spending.
   */
  #put(key: string, existed: boolean, entry: { state: object; expiresAt: number }, now: number): void {
    const entries = this.#entries;
    if (existed) {
      if (entries.size > this.#maxKeys >> 1) entries.delete(key);
    } else if (entries.size >= this.#maxKeys) {
      // Full: the least recently used key goes, in constant time (a sweep per new key would let a flood
      // of new keys cost a walk of the whole map each).
      for (const oldest of entries.keys()) {
        entries.delete(oldest);
        break;
      }
    }
    entries.set(key, entry);
    if (entries.size >= this.#sweepAt) this.#sweep(now);
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
