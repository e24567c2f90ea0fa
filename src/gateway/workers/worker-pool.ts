/**
 * The gateway's worker processes (`workers` > 1), run by the component process. Each worker serves the
 * same public port (SO_REUSEPORT: the kernel spreads connections) with a gateway built from the same
 * settings; the component hands every run-time change to each of them (routes applied, token revocations,
 * policy bundles, SVID renewals and peer revocations) and takes back their audit events and metrics. A
 * worker that dies is started again, with the state of the moment, after a short back-off.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { AuditSink, Logger } from '../../core/index.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';

export interface WorkerPoolOptions {
  /** Extra processes beside the component's own gateway. */
  count: number;
  /** The state a (re)started worker begins from; read at each start. */
  init: () => WorkerInit;
  logger: Logger;
  audit: AuditSink;
  /** How long a worker may take to start listening. */
  startTimeoutMs?: number;
}

const WORKER_MAIN = new URL('./worker-main.ts', import.meta.url);

/** One registry's metrics as data (`getMetricsAsJSON`), the form that crosses from a worker. */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #workers = new Set<ChildProcess>();
  readonly #pendingMetrics = new Map<number, (metrics: MetricsJson | undefined) => void>();
  #nextId = 0;
  #closing = false;

  private constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  /** Starts `count` workers and resolves once each listens; rejects (and stops them) if one cannot. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await Promise.all(Array.from({ length: options.count }, () => pool.#spawn()));
    } catch (err) {
      await pool.close(0);
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.#workers.size;
  }

  /** Process ids of the running workers (for status and tests). */
  get pids(): number[] {
    return [...this.#workers].map((w) => w.pid ?? 0);
  }

  /** Hands a change to every worker (a worker starting meanwhile gets it in its `init`). */
  broadcast(message: ToWorker): void {
    for (const worker of this.#workers) if (worker.connected) worker.send(message);
  }

  /** Every worker's metrics merged with `own` (counters and histograms summed), as one registry. */
  async metrics(own: Registry): Promise<Registry> {
    const answers = await Promise.all([...this.#workers].map((w) => this.#askMetrics(w)));
    const all = [await own.getMetricsAsJSON(), ...answers.filter((a) => a !== undefined)];
    return AggregatorRegistry.aggregate(all);
  }

  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    await Promise.all(
      [...this.#workers].map(async (worker) => {
        const exited = new Promise<void>((resolve) => {
          if (worker.exitCode !== null || worker.signalCode !== null) resolve();
          else worker.once('exit', () => resolve());
        });
        if (worker.connected) worker.send({ type: 'close', graceMs } satisfies ToWorker);
        const timer = setTimeout(() => worker.kill('SIGKILL'), graceMs + 2_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  #askMetrics(worker: ChildProcess): Promise<MetricsJson | undefined> {
    if (!worker.connected) return Promise.resolve(undefined);
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      // A worker that does not answer within a second is left out of this scrape, not waited for.
      const timer = setTimeout(() => {
        this.#pendingMetrics.delete(id);
        resolve(undefined);
      }, 1_000);
      this.#pendingMetrics.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      worker.send({ type: 'metrics', id } satisfies ToWorker);
    });
  }

  #spawn(): Promise<void> {
    const { logger, audit } = this.#options;
    const worker = fork(WORKER_MAIN, [], {
      // The component's own flags, less those that would make the worker something else: a debugger's
      // port (one process can hold it), the test runner or a file watcher.
      execArgv: process.execArgv.filter((a) => !/^--(inspect|test|watch)/.test(a)),
      // The worker reads nothing from the environment but its log settings, which `init` carries.
      env: { PATH: process.env['PATH'] ?? '' },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#workers.add(worker);
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('a gateway worker did not start listening in time')),
        this.#options.startTimeoutMs ?? 30_000,
      );
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`a gateway worker failed to start: ${message.message}`));
        } else if (message.type === 'audit') {
          for (const event of message.events) audit.record(event);
        } else if (message.type === 'metrics') {
          this.#pendingMetrics.get(message.id)?.(message.metrics as MetricsJson);
          this.#pendingMetrics.delete(message.id);
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`a gateway worker exited during start (${signal ?? code})`));
      });
    });
    worker.once('exit', (code, signal) => {
      this.#workers.delete(worker);
      if (this.#closing) return;
      logger.error({ pid: worker.pid, code, signal }, 'a gateway worker stopped; starting another');
      setTimeout(() => {
        if (!this.#closing)
          this.#spawn().catch((err: Error) =>
            logger.error({ err: { message: err.message } }, 'a gateway worker could not be restarted'),
          );
      }, 1_000).unref();
    });
    worker.send(this.#options.init());
    return started;
  }
}
