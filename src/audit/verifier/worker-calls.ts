/**
 * Calls to a worker thread, each answered by one message carrying the call's `id`. A thread that fails or
 * exits rejects every call in flight and every later one. Used by the verifier's leaf hasher, the log's
 * SQLite writer and the ingest threads; it lives with the verifier because that part may depend on nothing
 * but Node.js.
 */
import type { Transferable, Worker } from 'node:worker_threads';

export class WorkerCalls<Reply extends { id: number }> {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(reply: Reply): void; reject(err: Error): void }>();
  #next = 0;
  #failed: Error | undefined;
  #closing = false;

  /** `stopped` names the thread in the error calls get when it exits; `onFail` hears of a failure once. */
  constructor(worker: Worker, stopped: string, onFail?: (err: Error) => void) {
    this.#worker = worker;
    worker.on('message', (reply: Reply) => {
      const call = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      call?.resolve(reply);
    });
    const fail = (err: Error) => {
      if (this.#failed) return;
      this.#failed = err;
      for (const call of this.#waiting.values()) call.reject(err);
      this.#waiting.clear();
      if (!this.#closing) onFail?.(err);
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error(`${stopped} has stopped`)));
  }

  /** False once the thread failed, exited or is closing. */
  get usable(): boolean {
    return !this.#failed && !this.#closing;
  }

  get inFlight(): number {
    return this.#waiting.size;
  }

  call(message: object, transfer: readonly Transferable[] = []): Promise<Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Stops the thread: with `last`, the message that makes it end on its own; otherwise terminated. */
  async close(last?: object): Promise<void> {
    this.#closing = true;
    if (this.#failed) return;
    if (!last) return void (await this.#worker.terminate());
    const exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.postMessage({ ...last, id: this.#next++ });
    await exited;
  }
}
