/**
 * Where the counters of `store: memory` rate limits and of route concurrency limits live. One gateway
 * process keeps them itself ({@link LocalCounters}). With `workers` > 1, the component's process keeps
 * them for every process behind the port and the workers ask it over IPC (workers/remote-counters.ts), so
 * a limit means the same with one process or eight, as a Kong node's shared dictionary does for its
 * nginx workers. Limits shared by several machines are Redis's (`store: redis`).
 */
import type { Clock } from '../../core/index.ts';
import type { Algorithm, AlgorithmParams, LimitDecision } from './algorithms.ts';
import { MAX_KEYS, MemoryLimitStore } from './memory-store.ts';

/** One route rule's counters: `id` names the rule and its parameters, so a changed rule starts afresh. */
export interface LimitRule {
  readonly id: string;
  readonly algorithm: Algorithm;
  readonly params: AlgorithmParams;
}

export interface LimitCounters {
  /** Spends one point of `rule` for `key`. */
  consume(rule: LimitRule, key: string): LimitDecision | Promise<LimitDecision>;
  /** Takes one of `max` in-flight slots of `route`; false when all are taken. */
  acquire(route: string, max: number): boolean | Promise<boolean>;
  /** Gives back a slot taken by {@link acquire}. */
  release(route: string): void;
}

/** The holder of slots taken by the process that owns the counters. */
const OWN = 0;
/** Decisions between two prunings of abandoned rule stores. */
const PRUNE_EVERY = 100_000;

export class LocalCounters implements LimitCounters {
  readonly #clock: Clock;
  readonly #stores = new Map<string, { store: MemoryLimitStore; lastUsed: number }>();
  readonly #inFlight = new Map<string, number>();
  /** Slots by holder (0: this process; a worker's id otherwise), so a dead worker's can be given back. */
  readonly #held = new Map<number, Map<string, number>>();
  /** Decisions so far: the clock of {@link #prune}. */
  #decisions = 0;

  readonly #maxKeys: number;

  constructor(clock: Clock, maxKeys = MAX_KEYS) {
    this.#clock = clock;
    this.#maxKeys = maxKeys;
  }

  consume(rule: LimitRule, key: string): LimitDecision {
    return this.#store(rule).consume(key);
  }

  /** Up to `want` points of `rule` for `key` at once (see {@link MemoryLimitStore.lease}). */
  lease(rule: LimitRule, key: string, want: number): LeaseAnswer {
    return this.#store(rule).lease(key, want);
  }

  #store(rule: LimitRule): MemoryLimitStore {
    const tick = ++this.#decisions;
    if (tick % PRUNE_EVERY === 0) this.#prune(tick);
    let entry = this.#stores.get(rule.id);
    if (!entry) {
      entry = {
        store: new MemoryLimitStore(rule.algorithm, rule.params, this.#clock, this.#maxKeys),
        lastUsed: tick,
      };
      this.#stores.set(rule.id, entry);
    }
    entry.lastUsed = tick;
    return entry.store;
  }

  acquire(route: string, max: number, holder = OWN): boolean {
    const taken = this.#inFlight.get(route) ?? 0;
    if (taken >= max) return false;
    this.#inFlight.set(route, taken + 1);
    let mine = this.#held.get(holder);
    if (!mine) {
      mine = new Map();
      this.#held.set(holder, mine);
    }
    mine.set(route, (mine.get(route) ?? 0) + 1);
    return true;
  }

  release(route: string, holder = OWN): void {
    const mine = this.#held.get(holder);
    const count = mine?.get(route) ?? 0;
    if (count === 0) return;
    if (count === 1) mine!.delete(route);
    else mine!.set(route, count - 1);
    const taken = this.#inFlight.get(route)!;
    if (taken === 1) this.#inFlight.delete(route);
    else this.#inFlight.set(route, taken - 1);
  }

  /**
   * Drops the stores of rules no longer used (a rule changed or removed by a reload: its id is not asked
   * for again) once their keys have expired, which would otherwise stay for good. Stores in use are left
   * to sweep themselves, so a pruning never walks a busy store's keys.
   */
  #prune(tick: number): void {
    for (const [id, entry] of this.#stores) {
      if (tick - entry.lastUsed >= PRUNE_EVERY && entry.store.prune() === 0) this.#stores.delete(id);
    }
  }

  /** Rule stores kept (for tests). */
  get stores(): number {
    return this.#stores.size;
  }

  /** Gives back every slot `holder` still has (a worker that exited mid-request). */
  releaseAll(holder: number): void {
    for (const [route, count] of this.#held.get(holder) ?? []) {
      for (let i = 0; i < count; i++) this.release(route, holder);
    }
    this.#held.delete(holder);
  }

  /** Slots of `route` in flight in every process (for tests and the admin view). */
  inFlight(route: string): number {
    return this.#inFlight.get(route) ?? 0;
  }

  /** Answers a worker's batch of operations, in order. */
  answer(holder: number, ops: readonly CounterOp[]): CounterResult[] {
    return ops.map((op) => {
      if (op.op === 'consume') return this.consume(op.rule, op.key);
      if (op.op === 'lease') return this.lease(op.rule, op.key, op.want);
      if (op.op === 'acquire') return this.acquire(op.route, op.max, holder);
      this.release(op.route, holder);
      return null;
    });
  }
}

/** The operations a worker sends, batched per tick (see workers/remote-counters.ts). */
export type CounterOp =
  | { op: 'consume'; rule: LimitRule; key: string }
  | { op: 'lease'; rule: LimitRule; key: string; want: number }
  | { op: 'acquire'; route: string; max: number }
  | { op: 'release'; route: string };

/**
 * Points granted for a lease (0: refused), the decision about the first of them, and how long the answer
 * holds: granted points may be spent, or a refusal stands, for `holdsMs` from the decision, which is
 * `endsAt` by the component's clock (epoch ms).
 */
export interface LeaseAnswer {
  granted: number;
  decision: LimitDecision;
  holdsMs: number;
  endsAt: number;
}

export type CounterResult = LimitDecision | LeaseAnswer | boolean | null;
