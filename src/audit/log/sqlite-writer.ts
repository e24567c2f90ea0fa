/**
 * Appends on SQLite go through a worker thread that owns the write connection (see sqlite-writer-worker.ts):
 * while it commits one group (insert + fsync), the event loop goes on parsing and validating the next
 * batches. Reads stay on core's store connection; WAL lets them run beside the writer. A group is
 * acknowledged only after the worker reports its COMMIT.
 */
import { Worker } from 'node:worker_threads';
import type { SqlValue, Store } from '../../core/index.ts';
import type { Segment } from './record-store.ts';
import type { WriteReply, WriteRequest } from './sqlite-writer-worker.ts';
import type { FullTile } from './tile-tree.ts';

export class SqliteWriter {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(reply: WriteReply): void; reject(err: Error): void }>();
  #next = 0;
  #failed: Error | undefined;

  private constructor(path: string) {
    this.#worker = new Worker(new URL('./sqlite-writer-worker.ts', import.meta.url), {
      workerData: { path },
    });
    this.#worker.on('message', (reply: WriteReply) => {
      const w = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.error === undefined) w?.resolve(reply);
      else w?.reject(new Error(`audit write failed: ${reply.error}`));
    });
    const fail = (err: Error) => {
      this.#failed = err;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', () => fail(new Error('the audit writer thread has stopped')));
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

  #send(req: WriteRequest): Promise<WriteReply> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...req, id });
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.postMessage({ id: this.#next++, op: 'close' } satisfies WriteRequest);
    await exited;
  }
}
