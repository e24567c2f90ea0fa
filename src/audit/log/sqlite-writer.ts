/**
 * Appends on SQLite go through a worker thread that owns the write connection (see sqlite-writer-worker.ts):
 * while it commits one group (insert + fsync), the event loop goes on parsing and validating the next
 * batches. Reads stay on core's store connection; WAL lets them run beside the writer. A group is
 * acknowledged only after the worker reports its COMMIT.
 */
import { Worker } from 'node:worker_threads';
import type { SqlValue, Store } from '../../core/index.ts';
import { WorkerCalls } from '../verifier/worker-calls.ts';
import type { Segment } from './record-store.ts';
import type { WriteReply, WriteRequest } from './sqlite-writer-worker.ts';
import type { FullTile } from './tile-tree.ts';

export class SqliteWriter {
  readonly #calls: WorkerCalls<WriteReply>;

  private constructor(path: string) {
    const worker = new Worker(new URL('./sqlite-writer-worker.ts', import.meta.url), {
      workerData: { path },
    });
    this.#calls = new WorkerCalls(worker, 'the audit writer thread');
  }

  /** A writer for the store's database file, or undefined when it has none (in-memory or PostgreSQL). */
  static async open(store: Store): Promise<SqliteWriter | undefined> {
    if (store.engine !== 'sqlite') return undefined;
    const [main] = await store.query<{ file: string }>(
      "SELECT file FROM pragma_database_list WHERE name = 'main'",
    );
    return main?.file ? new SqliteWriter(main.file) : undefined;
  }

  /** Hands over a group's segments (to be written next) and returns their leaf hashes, in order. */
  async hash(segments: Segment[]): Promise<Buffer[]> {
    const reply = await this.#send({ id: 0, op: 'hash', segments });
    const all = Buffer.from(reply.leaves!);
    const out: Buffer[] = [];
    for (let o = 0; o < all.length; o += 32) out.push(all.subarray(o, o + 32));
    return out;
  }

  /** Commits the segments handed over by the last `hash` with `tiles`, in one transaction. */
  async write(tiles: FullTile[]): Promise<void> {
    await this.#send({ id: 0, op: 'write', tiles });
  }

  /** Runs one write statement in its own transaction on the writer connection. */
  async execute(sql: string, params: SqlValue[]): Promise<void> {
    await this.#send({ id: 0, op: 'execute', sql, params });
  }

  async #send(req: WriteRequest): Promise<WriteReply> {
    const reply = await this.#calls.call(req);
    if (reply.error !== undefined) throw new Error(`audit write failed: ${reply.error}`);
    return reply;
  }

  async close(): Promise<void> {
    await this.#calls.close({ op: 'close' });
  }
}
