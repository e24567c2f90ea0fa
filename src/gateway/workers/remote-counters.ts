/**
 * A worker's in-memory limits, kept by the component process (limits/counters.ts): the operations of one
 * tick go over IPC as one message and come back answered in order, so a limit counts every process
 * behind the port. A batch not answered within `timeoutMs` fails its callers, which the rate-limit stage
 * turns into each rule's fail-open or fail-closed, as for a Redis outage.
 *
 * Limits are leased: a worker asks for several points of a key at once (twice as many as last time, up
 * to {@link MAX_LEASE}; the component grants at most an eighth of what is left), one ask per key at a
 * time, and spends them without asking until they run out or the answer's term ends (`holdsMs`: the end
 * of a fixed or sliding window; for a token bucket, until the bucket could have refilled; see
 * limits/algorithms.ts for why each term keeps the limit exact). Granted points are counted at once, so
 * the limit is never exceeded; points a worker holds when no more requests reach it lapse. A refusal
 * stands for its term too (others' requests can only make it longer), so it is answered locally until
 * then. A busy key costs one round trip per lease instead of one per request.
 */
import { type Clock, systemClock } from '../../core/index.ts';
import type { LimitDecision } from '../limits/algorithms.ts';
import type { CounterOp, CounterResult, LeaseAnswer, LimitCounters, LimitRule } from '../limits/counters.ts';

/** Most points of a window a worker asks for at once. */
const MAX_LEASE = 1024;

/** Points of one key held by this worker. */
interface Lease {
  left: number;
  /** When the term ends, by this process's clock (never later than the component's end). */
  until: number;
  /** When the key's full quota is back (RateLimit-Reset), by this process's clock. */
  resetAt: number;
  /** What the component had left after granting them. */
  remaining: number;
  /** Points granted last time: the next request asks for twice as many. */
  size: number;
  /** The component refused: nothing is left until `until`. */
  refused: boolean;
}

interface Waiter {
  resolve(result: CounterResult): void;
  reject(err: Error): void;
}

interface Batch {
  ops: CounterOp[];
  waiters: (Waiter | undefined)[];
  timer: NodeJS.Timeout | undefined;
  /**
   * Its callers were failed for want of an answer. The component answers every batch, in order (and a
   * worker without it exits), so the late answer comes: it only gives back the slots it granted.
   */
  late: boolean;
}

/** Stands in for the operations of a late batch whose answer needs no handling. */
const RELEASED: CounterOp = { op: 'release', route: '' };

export class RemoteCounters implements LimitCounters {
  readonly #send: (id: number, ops: CounterOp[]) => void;
  readonly #timeoutMs: number;
  #ops: CounterOp[] = [];
  #waiters: (Waiter | undefined)[] = [];
  readonly #pending = new Map<number, Batch>();
  #nextId = 0;
  readonly #leases = new Map<string, Lease>();
  /** Keys with a lease asked for and not answered yet. */
  readonly #asking = new Set<string>();
  #sweepAt = 1024;
  readonly #clock: Clock;

  constructor(send: (id: number, ops: CounterOp[]) => void, timeoutMs = 1_000, clock: Clock = systemClock) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
  }

  consume(rule: LimitRule, key: string): Promise<LimitDecision> {
    const id = `${rule.id}\u0000${key}`;
    const now = this.#clock.now();
    const lease = this.#leases.get(id);
    if (lease && now < lease.until) {
      if (lease.left > 0) {
        lease.left--;
        return Promise.resolve({
          allowed: true,
          remaining: lease.remaining + lease.left,
          resetMs: Math.max(0, lease.resetAt - now),
          retryAfterMs: 0,
        });
      }
      if (lease.refused) {
        const wait = lease.until - now;
        return Promise.resolve({ allowed: false, remaining: 0, resetMs: wait, retryAfterMs: wait });
      }
    }
    // One lease asked for per key at a time. Requests meanwhile are decided one by one (in the same
    // message as the tick's other operations): each taking a share would strand points, and waiting for
    // the lease would chain round trips (a token bucket near full grants one point at a time).
    if (this.#asking.has(id)) return this.#ask({ op: 'consume', rule, key }) as Promise<LimitDecision>;
    const want = Math.min(MAX_LEASE, lease ? lease.size * 2 : 1);
    const asked = (this.#ask({ op: 'lease', rule, key, want }) as Promise<LeaseAnswer>)
      .then(({ granted, decision, holdsMs, endsAt }): LimitDecision => {
        // Never past the component's term: its end as it says, and as measured from the asking (a
        // clock stepped back meanwhile would otherwise stretch the lease).
        const until = Math.min(endsAt, now + holdsMs);
        this.#keep(id, {
          left: Math.max(0, granted - 1),
          until,
          resetAt: now + decision.resetMs,
          remaining: decision.remaining,
          size: Math.max(1, granted),
          refused: granted === 0,
        });
        return granted > 1 ? { ...decision, remaining: decision.remaining + granted - 1 } : decision;
      })
      .finally(() => this.#asking.delete(id));
    this.#asking.add(id);
    return asked;
  }

  #keep(id: string, lease: Lease): void {
    this.#leases.set(id, lease);
    if (this.#leases.size < this.#sweepAt) return;
    const now = this.#clock.now();
    for (const [k, l] of this.#leases) if (l.until <= now) this.#leases.delete(k);
    this.#sweepAt = Math.max(1024, this.#leases.size * 2);
  }

  acquire(route: string, max: number): Promise<boolean> {
    return this.#ask({ op: 'acquire', route, max }) as Promise<boolean>;
  }

  release(route: string): void {
    this.#queue({ op: 'release', route }, undefined);
  }

  /** The component's answer to batch `id`. */
  answer(id: number, results: readonly CounterResult[]): void {
    const batch = this.#pending.get(id);
    if (!batch) return;
    this.#pending.delete(id);
    if (batch.timer) clearTimeout(batch.timer);
    if (batch.late) {
      // Slots granted to requests that were refused meanwhile would otherwise be held for good.
      batch.ops.forEach((op, i) => {
        if (op.op === 'acquire' && results[i] === true) this.release(op.route);
      });
      return;
    }
    batch.waiters.forEach((w, i) => {
      w?.resolve(results[i] ?? null);
    });
  }

  #ask(op: CounterOp): Promise<CounterResult> {
    return new Promise((resolve, reject) => this.#queue(op, { resolve, reject }));
  }

  #queue(op: CounterOp, waiter: Waiter | undefined): void {
    if (this.#ops.length === 0) setImmediate(() => this.#flush());
    this.#ops.push(op);
    this.#waiters.push(waiter);
  }

  #flush(): void {
    const id = ++this.#nextId;
    const ops = this.#ops;
    const waiters = this.#waiters;
    this.#ops = [];
    this.#waiters = [];
    const batch: Batch = {
      ops,
      waiters,
      late: false,
      timer: setTimeout(() => {
        batch.late = true;
        batch.timer = undefined;
        const err = new Error('the gateway component did not answer for the shared limits');
        for (const w of waiters) w?.reject(err);
        // Only what a late answer needs: which operations were acquires.
        batch.waiters = [];
        batch.ops = batch.ops.map((op) => (op.op === 'acquire' ? op : RELEASED));
      }, this.#timeoutMs),
    };
    this.#pending.set(id, batch);
    this.#send(id, ops);
  }
}
