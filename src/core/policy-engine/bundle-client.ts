/**
 * Keeps an engine up to date with the bundle `policy` serves: polls `GET /v1/bundle` with `If-None-Match`
 * (RFC 9110 §13.1.2), so an unchanged bundle costs a 304 and no body. A bundle that fails to download or to
 * compile is ignored and the last good one keeps deciding: `policy` being down never stops decisions.
 */
import { type Dispatcher, request } from 'undici';
import type { BundleSource } from './bundle.ts';
import { fromBundleDocument } from './bundle-document.ts';
import type { PolicyEngine } from './engine.ts';

export interface BundleClientOptions {
  /** Base URL of `policy`, e.g. `https://127.0.0.1:7302`. */
  url: string;
  engine: PolicyEngine;
  /** Carries the TLS trust (and, with authority, the client certificate). */
  dispatcher?: Dispatcher;
  /** Time between polls (and the back-off after a failed one in long-poll mode). */
  intervalMs?: number;
  /**
   * Long poll: ask `policy` to hold each request up to this many seconds (at most 60) until a new version
   * exists, so a change reaches the engine at once instead of at the next poll. 0 polls plainly.
   */
  waitSeconds?: number;
  timeoutMs?: number;
  /** Told about every failed poll (log it; never fatal). */
  onError?: (error: unknown) => void;
  /** Called with each bundle applied to the engine (a gateway hands it on to its worker processes). */
  onUpdate?: (source: BundleSource) => void;
}

export type PollResult = 'updated' | 'unchanged' | 'failed';

/**
 * @example
 * const client = new BundleClient({ url: 'https://127.0.0.1:7302', engine, dispatcher, intervalMs: 10_000 });
 * await client.start(); // 'updated' | 'unchanged' | 'failed'; decisions go on either way
 */
export class BundleClient {
  readonly #options: BundleClientOptions;
  #etag: string | undefined;
  #version: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<PollResult> | undefined;
  #watching = false;
  #backoff: NodeJS.Timeout | undefined;
  /** Aborts the request in flight at {@link stop}, so a held long poll does not outlive the client. */
  #abort = new AbortController();
  lastError: unknown;

  constructor(options: BundleClientOptions) {
    this.#options = options;
  }

  get version(): number | undefined {
    return this.#version;
  }

  /** Polls now (one poll at a time; a concurrent call joins the one in flight). */
  poll(): Promise<PollResult> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #poll(): Promise<PollResult> {
    const { url, engine, dispatcher, timeoutMs = 5000 } = this.#options;
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      const target = new URL('/v1/bundle', url);
      // Only send the tag of a bundle actually in force, so a failed apply is retried on the next poll.
      if (this.#etag && engine.bundle && `"${engine.bundle.hash}"` === this.#etag)
        headers['if-none-match'] = this.#etag;
      const wait =
        headers['if-none-match'] && this.#watching ? Math.min(this.#options.waitSeconds ?? 0, 60) : 0;
      if (wait > 0) target.searchParams.set('wait', String(wait));
      const res = await request(target, {
        headers,
        headersTimeout: timeoutMs + wait * 1000,
        signal: this.#abort.signal,
        bodyTimeout: timeoutMs,
        ...(dispatcher ? { dispatcher } : {}),
      });
      if (res.statusCode === 304) {
        await res.body.dump();
        return 'unchanged';
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`policy answered ${res.statusCode} for the bundle`);
      }
      const { source, version } = fromBundleDocument(await res.body.json());
      engine.load(source);
      this.#options.onUpdate?.(source);
      this.#etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      this.#version = version;
      this.lastError = undefined;
      return 'updated';
    } catch (err) {
      this.lastError = err;
      this.#options.onError?.(err);
      return 'failed';
    }
  }

  /**
   * Polls now and then every `intervalMs` (the timer does not keep the process alive), or, with
   * `waitSeconds`, keeps one long poll open at a time until {@link stop}.
   */
  start(): Promise<PollResult> {
    if ((this.#options.waitSeconds ?? 0) > 0) {
      if (!this.#watching) {
        this.#watching = true;
        const first = this.poll();
        void first.then(() => this.#watch());
        return first;
      }
      return this.poll();
    }
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.poll(), this.#options.intervalMs ?? 10_000);
      this.#timer.unref();
    }
    return this.poll();
  }

  async #watch(): Promise<void> {
    while (this.#watching) {
      const result = await this.poll();
      if (result === 'failed' && this.#watching) {
        await new Promise<void>((resolve) => {
          this.#backoff = setTimeout(resolve, this.#options.intervalMs ?? 10_000);
          this.#backoff.unref();
        });
      }
    }
  }

  stop(): void {
    this.#watching = false;
    this.#abort.abort();
    this.#abort = new AbortController();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#backoff) clearTimeout(this.#backoff);
    this.#timer = undefined;
  }
}
