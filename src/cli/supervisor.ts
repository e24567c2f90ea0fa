/**
 * Runs each component as its own child process and keeps it running: a child that exits unexpectedly is
 * restarted after a delay that doubles on each crash (and resets once it has stayed up), and `stop()` sends
 * SIGTERM to all, waits, and kills what did not exit. Children are started detached (their own process
 * group, so a terminal's Ctrl-C reaches only the supervisor, which stops them in order) and exit by
 * themselves when the IPC channel to the supervisor closes, so even a SIGKILLed supervisor leaves no orphan.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Clock } from '../core/index.ts';

export interface ChildSpec {
  name: string;
  /** Module the child runs (a .ts or .js file). */
  module: string;
  args: readonly string[];
  /** Children start stage by stage (lowest first); those of one stage start together. Default 0. */
  stage?: number;
  /**
   * The child's environment; a function is called at each (re)start, so it can carry URLs learnt since and
   * a fresh one-time join token. A function that throws counts as a failed start.
   */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv | Promise<NodeJS.ProcessEnv>);
  /**
   * Fork the child as soon as the supervisor starts, so that it loads its code while earlier stages come
   * up, and hand it its environment when its stage is reached (the child must speak the preload protocol:
   * `bulwark run` does, see {@link PRELOAD_ENV}). Restarts fork as usual.
   */
  preload?: boolean;
  /**
   * The environment a pre-forked child loads its code in, before its stage hands it `env` (default: the
   * supervisor's). A process keeps its initial environment readable in /proc/self/environ however its
   * `process.env` changes later, so it must not hold what the child is not to have.
   */
  preloadEnv?: NodeJS.ProcessEnv;
}

/** Set in the environment of a pre-forked child: it says `loaded`, then waits for `start` with its env. */
export const PRELOAD_ENV = 'BULWARK_PRELOAD';

/** The message a pre-forked child sends once its code is loaded. */
export interface LoadedMessage {
  type: 'loaded';
}

/** The message that releases a pre-forked child, with the environment it runs with. */
export interface StartMessage {
  type: 'start';
  env: NodeJS.ProcessEnv;
}

export interface SupervisorOptions {
  restartInitialDelayMs: number;
  restartMaxDelayMs: number;
  stableAfterMs: number;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
}

export type ChildStatus = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ChildState {
  name: string;
  status: ChildStatus;
  pid: number | null;
  url: string | null;
  restarts: number;
  startedAt: number | null;
  /** While restarting: how long the supervisor waits before the next start. */
  restartDelayMs?: number | null;
  /** Further listeners the child reported by name, e.g. `public` for the gateway. */
  endpoints?: Record<string, string>;
  lastExit: { code: number | null; signal: string | null } | null;
}

/** The message a child sends once it is listening. */
export interface ReadyMessage {
  type: 'ready';
  url: string;
  /** Further listeners by name, e.g. the gateway's public port. */
  endpoints?: Record<string, string>;
}

interface Child {
  spec: ChildSpec;
  state: ChildState;
  process: ChildProcess | null;
  /** A pre-forked process, resolved once it has loaded its code (null if it died first). */
  preloaded?: Promise<ChildProcess | null>;
  failures: number;
  restartTimer: NodeJS.Timeout | null;
}

export interface SupervisorEvents {
  change: [ChildState[]];
  ready: [ChildState];
  exit: [ChildState];
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #children: Child[];
  readonly #options: SupervisorOptions;
  readonly #clock: Clock;
  #stopping = false;

  constructor(specs: readonly ChildSpec[], options: SupervisorOptions, clock: Clock) {
    super();
    this.#options = options;
    this.#clock = clock;
    this.#children = specs.map((spec) => ({
      spec,
      process: null,
      failures: 0,
      restartTimer: null,
      state: {
        name: spec.name,
        status: 'stopped',
        pid: null,
        url: null,
        restarts: 0,
        startedAt: null,
        restartDelayMs: null,
        lastExit: null,
      },
    }));
  }

  snapshot(): ChildState[] {
    return this.#children.map((c) => ({ ...c.state }));
  }

  /**
   * Starts the children stage by stage: a stage starts once every child of the previous one reported
   * ready (and `beforeStage` resolved). Rejects if one cannot start.
   */
  async start(options: { beforeStage?(stage: number): Promise<void> } = {}): Promise<void> {
    const stages = [...new Set(this.#children.map((c) => c.spec.stage ?? 0))].sort((a, b) => a - b);
    // Each stage loads its code while the stage before it starts: one stage ahead, not all of them, so
    // the stage everything waits for (authority) does not share the CPU with every later process.
    const preloadStage = (stage: number | undefined) => {
      for (const child of this.#children)
        if (child.spec.preload && (child.spec.stage ?? 0) === stage) child.preloaded = this.#preload(child);
    };
    preloadStage(stages[0]);
    for (const [i, stage] of stages.entries()) {
      preloadStage(stages[i + 1]);
      // e.g. seeding data through the APIs of the stages already running, before the next one starts.
      await options.beforeStage?.(stage);
      const wave = this.#children.filter((c) => (c.spec.stage ?? 0) === stage);
      const results = await Promise.allSettled(wave.map((child) => this.#launch(child)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /** SIGTERM to every child, SIGKILL to those still there after `stopTimeoutMs`. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      [...this.#children].reverse().map(async (child) => {
        if (child.restartTimer) clearTimeout(child.restartTimer);
        child.restartTimer = null;
        const proc = child.process;
        if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
          this.#set(child, { status: 'stopped', pid: null });
          return;
        }
        this.#set(child, { status: 'stopping' });
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), this.#options.stopTimeoutMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Forks a child that loads its code and waits; resolves once it has said `loaded`. */
  #preload(child: Child): Promise<ChildProcess | null> {
    const proc = fork(child.spec.module, [...child.spec.args], {
      env: { ...(child.spec.preloadEnv ?? process.env), [PRELOAD_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      execArgv: [],
    });
    child.process = proc;
    return new Promise((resolve) => {
      proc.on('message', (message: unknown) => {
        if ((message as { type?: unknown })?.type === 'loaded') resolve(proc);
      });
      proc.once('exit', () => {
        if (child.process === proc) child.process = null;
        resolve(null);
      });
    });
  }

  async #launch(child: Child): Promise<void> {
    const { spec } = child;
    const preloaded = child.preloaded;
    child.preloaded = undefined;
    let env: NodeJS.ProcessEnv;
    try {
      env = typeof spec.env === 'function' ? await spec.env() : (spec.env ?? process.env);
    } catch (err) {
      // A pre-forked process cannot be released without its environment: it is not needed any more.
      (await preloaded)?.kill();
      if (this.#stopping) return;
      // Like a child that dies before it is ready: fatal the first time, retried with backoff after.
      if (child.state.restarts === 0) {
        this.#set(child, { status: 'failed', url: null });
        throw new Error(
          `${spec.name} could not be prepared: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      this.#scheduleRestart(child);
      return;
    }
    const waiting = preloaded ? await preloaded : null;
    const proc =
      waiting && waiting.exitCode === null && waiting.signalCode === null
        ? waiting
        : fork(spec.module, [...spec.args], {
            env,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            detached: true,
            execArgv: [],
          });
    if (proc === waiting) proc.send({ type: 'start', env } satisfies StartMessage);
    child.process = proc;
    this.#set(child, {
      status: 'starting',
      pid: proc.pid ?? null,
      url: null,
      startedAt: this.#clock.now(),
      restartDelayMs: null,
    });

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(readyTimer);
        if (err) reject(err);
        else resolve();
      };
      const readyTimer = setTimeout(() => {
        settle(new Error(`${spec.name} did not report ready within ${this.#options.readyTimeoutMs} ms`));
        proc.kill('SIGKILL');
      }, this.#options.readyTimeoutMs);

      proc.on('message', (message: unknown) => {
        if (isReady(message)) {
          this.#set(child, { status: 'running', url: message.url, endpoints: message.endpoints ?? {} });
          this.emit('ready', { ...child.state });
          settle();
        }
      });
      proc.once('exit', (code, signal) => {
        child.process = null;
        this.#set(child, { pid: null, lastExit: { code, signal } });
        this.emit('exit', { ...child.state });
        if (this.#stopping) {
          this.#set(child, { status: 'stopped', url: null });
          settle(new Error(`${spec.name} stopped while starting`));
          return;
        }
        if (!settled) {
          // A child that dies before it is ready the first time is a configuration problem: report it.
          if (child.state.restarts === 0) {
            this.#set(child, { status: 'failed', url: null });
            settle(new Error(`${spec.name} exited before it was ready (code ${code}, signal ${signal})`));
            return;
          }
          settle();
        }
        this.#scheduleRestart(child);
      });
    });
  }

  #scheduleRestart(child: Child): void {
    const ranFor = this.#clock.now() - (child.state.startedAt ?? this.#clock.now());
    child.failures = ranFor >= this.#options.stableAfterMs ? 1 : child.failures + 1;
    const delay = Math.min(
      this.#options.restartInitialDelayMs * 2 ** (child.failures - 1),
      this.#options.restartMaxDelayMs,
    );
    this.#set(child, { status: 'restarting', url: null, restartDelayMs: delay });
    child.restartTimer = setTimeout(() => {
      child.restartTimer = null;
      if (this.#stopping) return;
      child.state.restarts += 1;
      this.#launch(child).catch(() => undefined);
    }, delay);
  }

  #set(child: Child, patch: Partial<ChildState>): void {
    Object.assign(child.state, patch);
    this.emit('change', this.snapshot());
  }
}

function isReady(message: unknown): message is ReadyMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'ready' &&
    typeof (message as { url?: unknown }).url === 'string'
  );
}
