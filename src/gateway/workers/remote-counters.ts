/**
 * A worker's in-memory limits, kept by the component process (limits/counters.ts): the operations of one
 * tick go over IPC as one message and come back answered in order, so a limit counts every process
 * behind the port. A batch not answered within `timeoutMs` fails its callers, which the rate-limit stage
 * turns into each rule's fail-open or fail-closed, as for a Redis outage.
 *
 * Fixed windows are leased: a worker asks for several points of a key's window at once (twice as many as
 * last time, up to {@link MAX_LEASE}; the component grants at most an eighth of what is left) and spends
 * them without asking until they run out or the window ends. Granted points are counted at once, so the
 * limit is never exceeded; points a worker holds when no more requests reach it lapse with the window. A
 * busy key costs one round trip per lease instead of one per request.
 */
import type { LimitDecision } from '../limits/algorithms.ts';
import type { CounterOp, CounterResult, LeaseAnswer, LimitCounters, LimitRule } from '../limits/counters.ts';

/** Most points of a window a worker asks for at once. */
const MAX_LEASE = 1024;

/** Points of one key's current window held by this worker. */
interface Lease {
  left: number;
  /** When the window ends, by this process's clock (never later than the component's end). */
  until: number;
  /** What the component had left after granting them. */
  remaining: number;
  /** Points granted last time: the next request asks for twice as many. */
  size: number;
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
  #sweepAt = 1024;

  constructor(send: (id: number, ops: CounterOp[]) => void, timeoutMs = 1_000) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
  }

  consume(rule: LimitRule, key: string): Promise<LimitDecision> {
    if (rule.algorithm !== 'fixed-window')
      return this.#ask({ op: 'consume', rule, key }) as Promise<LimitDecision>;
    const id = `${rule.id}\u0000${key}`;
    const now = Date.now();
    const lease = this.#leases.get(id);
    if (lease && lease.left > 0 && now < lease.until) {
      lease.left--;
      return Promise.resolve({
        allowed: true,
        remaining: lease.remaining + lease.left,
        resetMs: lease.until - now,
        retryAfterMs: 0,
      });
    }
    const want = Math.min(MAX_LEASE, lease ? lease.size * 2 : 1);
    return (this.#ask({ op: 'lease', rule, key, want }) as Promise<LeaseAnswer>).then(
      ({ granted, decision }) => {
        // The component's window ends `resetMs` after it answered, so no earlier than this.
        const until = now + decision.resetMs;
        const held = this.#leases.get(id);
        if (held && held.until > now) {
          // Another ask for the same key answered meanwhile: one lease, ending at the earlier end (if the
          // window turned in between, the new points lapse early: fewer requests, never more).
          held.left += Math.max(0, granted - 1);
          held.until = Math.min(held.until, until);
          held.remaining = Math.min(held.remaining, decision.remaining);
          held.size = Math.max(held.size, granted);
        } else {
          this.#keep(id, {
            left: Math.max(0, granted - 1),
            until,
            remaining: decision.remaining,
            size: Math.max(1, granted),
          });
        }
        return granted > 1 ? { ...decision, remaining: decision.remaining + granted - 1 } : decision;
      },
    );
  }

  #keep(id: string, lease: Lease): void {
    this.#leases.set(id, lease);
    if (this.#leases.size < this.#sweepAt) return;
    const now = Date.now();
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
