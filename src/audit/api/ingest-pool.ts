/**
 * The ingest worker threads (`ingestWorkers`, default 1) and the calls to them. Each body goes to the
 * thread with the fewest batches in hand. A thread that fails is dropped and its batches, like every
 * later one if none is left, are prepared on the event loop instead (`fallback`): ingest slows, it does
 * not stop.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../core/index.ts';
import type { PreparedBatch } from './ingest-batch.ts';
import type { IngestReply, IngestRequest, IngestWorkerData } from './ingest-worker.ts';

interface Thread {
  worker: Worker;
  waiting: Map<number, (batch: PreparedBatch) => void>;
  alive: boolean;
}

const FALLBACK: PreparedBatch = { kind: 'fallback' };

export class IngestPool {
  readonly #threads: Thread[];
  #next = 0;

  private constructor(size: number, data: IngestWorkerData, logger: Logger) {
    this.#threads = Array.from({ length: size }, () => {
      const worker = new Worker(new URL('./ingest-worker.ts', import.meta.url), { workerData: data });
      const thread: Thread = { worker, waiting: new Map(), alive: true };
      worker.on('message', (reply: IngestReply) => {
        const done = thread.waiting.get(reply.id);
        thread.waiting.delete(reply.id);
        done?.(reply.batch);
      });
      const fail = (err: Error) => {
        if (!thread.alive) return;
        thread.alive = false;
        logger.error({ err }, 'an audit ingest thread stopped; its batches go to the event loop');
        for (const done of thread.waiting.values()) done(FALLBACK);
        thread.waiting.clear();
      };
      worker.on('error', fail);
      worker.on('exit', () => fail(new Error('ingest thread exited')));
      return thread;
    });
  }

  /** A pool of `size` threads, or undefined for 0 (everything on the event loop). */
  static start(size: number, data: IngestWorkerData, logger: Logger): IngestPool | undefined {
    return size > 0 ? new IngestPool(size, data, logger) : undefined;
  }

  /** Prepares one request body (see ingest-batch.ts); the bytes are copied, the caller keeps its buffer. */
  prepare(body: Uint8Array, now: number): Promise<PreparedBatch> {
    let thread: Thread | undefined;
    for (const t of this.#threads) {
      if (t.alive && (!thread || t.waiting.size < thread.waiting.size)) thread = t;
    }
    if (!thread) return Promise.resolve(FALLBACK);
    const id = this.#next++;
    const chosen = thread;
    return new Promise((resolve) => {
      chosen.waiting.set(id, resolve);
      chosen.worker.postMessage({ id, body, now } satisfies IngestRequest);
    });
  }

  async close(): Promise<void> {
    for (const t of this.#threads) {
      t.alive = false;
      for (const done of t.waiting.values()) done(FALLBACK);
      t.waiting.clear();
    }
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }
}
