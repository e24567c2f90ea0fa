/**
 * The ingest worker threads (`ingestWorkers`, default 1) and the calls to them. Each body goes to the
 * thread with the fewest batches in hand. A thread that fails is dropped and its batches, like every
 * later one if none is left, are prepared on the event loop instead (`fallback`): ingest slows, it does
 * not stop.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../core/index.ts';
import { WorkerCalls } from '../verifier/worker-calls.ts';
import type { PreparedBatch } from './ingest-batch.ts';
import type { IngestReply, IngestWorkerData } from './ingest-worker.ts';

const FALLBACK: PreparedBatch = { kind: 'fallback' };

export class IngestPool {
  readonly #threads: WorkerCalls<IngestReply>[];

  private constructor(size: number, data: IngestWorkerData, logger: Logger) {
    this.#threads = Array.from(
      { length: size },
      () =>
        new WorkerCalls<IngestReply>(
          new Worker(new URL('./ingest-worker.ts', import.meta.url), { workerData: data }),
          'an audit ingest thread',
          (err) => logger.error({ err }, 'an audit ingest thread stopped; its batches go to the event loop'),
        ),
    );
  }

  /** A pool of `size` threads, or undefined for 0 (everything on the event loop). */
  static start(size: number, data: IngestWorkerData, logger: Logger): IngestPool | undefined {
    return size > 0 ? new IngestPool(size, data, logger) : undefined;
  }

  /** Prepares one request body (see ingest-batch.ts); the bytes are copied, the caller keeps its buffer. */
  async prepare(body: Uint8Array, now: number, submitter: string | undefined): Promise<PreparedBatch> {
    let thread: WorkerCalls<IngestReply> | undefined;
    for (const t of this.#threads) {
      if (t.usable && (!thread || t.inFlight < thread.inFlight)) thread = t;
    }
    if (!thread) return FALLBACK;
    return thread.call({ body, now, ...(submitter !== undefined ? { submitter } : {}) }).then(
      (reply) => reply.batch,
      () => FALLBACK,
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.close()));
  }
}
