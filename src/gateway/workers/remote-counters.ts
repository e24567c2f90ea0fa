/**
 * A worker's in-memory limits, kept by the component process (limits/counters.ts): the operations of one
 * tick go over IPC as one message and come back answered in order, so a limit counts every process
 * behind the port. A batch not answered within `timeoutMs` fails its callers, which the rate-limit stage
 * turns into each rule's fail-open or fail-closed, as for a Redis outage.
 */
import type { LimitDecision } from '../limits/algorithms.ts';
import type { CounterOp, CounterResult, LimitCounters, LimitRule } from '../limits/counters.ts';

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

  constructor(send: (id: number, ops: CounterOp[]) => void, timeoutMs = 1_000) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
  }

  consume(rule: LimitRule, key: string): Promise<LimitDecision> {
    return this.#ask({ op: 'consume', rule, key }) as Promise<LimitDecision>;
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
