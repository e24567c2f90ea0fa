/**
 * The gateway's worker processes (`workers` > 1), run by the component process. Each worker serves the
 * same public port (SO_REUSEPORT: the kernel spreads connections) with a gateway built from the same
 * settings; the component hands every run-time change to each of them (routes applied, token revocations,
 * policy bundles, SVID renewals and peer revocations) and takes back their audit events and metrics. It
 * also keeps their in-memory limits (limits/counters.ts), answering each worker's batch of operations.
 *
 * Ordering: a worker is in the pool from the moment it is forked, and its `init` (the state of that
 * moment) is the first message on its channel, in the same tick; every later change is broadcast to it
 * after that, and the worker applies messages in order. So the component registers its change listeners
 * before {@link WorkerPool.start}, and no change can fall between a snapshot and the broadcasts. A worker
 * that dies is started again, from the state of that moment, after a back-off that grows to 30 s.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { AuditSink, Logger } from '../../core/index.ts';
import type { LocalCounters } from '../limits/counters.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';

export interface WorkerPoolOptions {
  /** Extra processes beside the component's own gateway. */
  count: number;
  /** The state a (re)started worker begins from; read when it is forked. */
  init: () => WorkerInit;
  logger: Logger;
  audit: AuditSink;
  /** The in-memory limit counters of the component's gateway, which workers use through IPC. */
  counters: LocalCounters;
  /** How long a worker may take to start listening. */
  startTimeoutMs?: number;
}

const WORKER_MAIN = new URL('./worker-main.ts', import.meta.url);
const MAX_RESTART_DELAY_MS = 30_000;

/** One registry's metrics as data (`getMetricsAsJSON`), the form that crosses from a worker. */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #workers = new Set<ChildProcess>();
  readonly #pendingMetrics = new Map<number, (metrics: MetricsJson | undefined) => void>();
  #nextId = 0;
  #holders = 0;
  #closing = false;
  #restartDelayMs = 1_000;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  /** Starts the workers and resolves once each listens; rejects (and stops them) if one cannot. */
  async start(): Promise<void> {
    try {
      await Promise.all(Array.from({ length: this.#options.count }, () => this.#spawn()));
    } catch (err) {
      await this.close(0);
      throw err;
    }
  }

  get size(): number {
    return this.#workers.size;
  }

  /** Hands a change to every worker, those still starting included (their `init` went first). */
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
      // The component's environment (`bulwark up` has already left out other components' secrets):
      // NODE_EXTRA_CA_CERTS, NODE_OPTIONS and TZ must be the same in every process behind the port.
      env: workerEnv(),
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#workers.add(worker);
    const holder = ++this.#holders;
    // A send racing the worker's death fails with EPIPE as an 'error' event: logged, never a crash.
    worker.on('error', (err) =>
      logger.warn({ err: { message: err.message }, pid: worker.pid }, 'gateway worker IPC error'),
    );
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A worker that hangs at start is not left in the pool: killed, it is restarted like any other.
        worker.kill('SIGKILL');
        reject(new Error('a gateway worker did not start listening in time'));
      }, this.#options.startTimeoutMs ?? 30_000);
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          this.#restartDelayMs = 1_000;
          resolve();
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`a gateway worker failed to start: ${message.message}`));
        } else if (message.type === 'audit') {
          for (const event of message.events) audit.record(event);
        } else if (message.type === 'counters') {
          const results = this.#options.counters.answer(holder, message.ops);
          if (worker.connected) worker.send({ type: 'counters', id: message.id, results } satisfies ToWorker);
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
      // Slots it held for requests that will never end.
      this.#options.counters.releaseAll(holder);
      if (this.#closing) return;
      const delay = this.#restartDelayMs;
      this.#restartDelayMs = Math.min(MAX_RESTART_DELAY_MS, delay * 2);
      logger.error({ pid: worker.pid, code, signal, restartInMs: delay }, 'a gateway worker stopped');
      setTimeout(() => {
        if (!this.#closing)
          this.#spawn().catch((err: Error) =>
            logger.error({ err: { message: err.message } }, 'a gateway worker could not be restarted'),
          );
      }, delay).unref();
    });
    worker.send(this.#options.init());
    return started;
  }
}

/** The component's environment, less the test runner's marker (a worker is not a test file). */
function workerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}
