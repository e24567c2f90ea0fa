/**
 * Outbound calls to one upstream service: resolve its healthy instances, pick one round-robin among those
 * not ejected, originate mTLS that only accepts that service's SVID, and apply the resilience rules:
 * per-try and total timeouts, retries of idempotent requests within a retry budget, outlier ejection per
 * instance and a circuit breaker for the service.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { IDEMPOTENT_METHODS } from '../core/http/methods.ts';
import { BulwarkError, type Clock } from '../core/index.ts';
import { mtlsDispatcher, serviceSpiffeId } from '../core/mtls/index.ts';
import type { MeshIdentity } from '../sdk/mesh/index.ts';
import type { MeshMetrics } from '../sdk/mesh/mesh-metrics.ts';
import type { ResilienceSettings } from './config.ts';
import { sidecarError } from './errors.ts';
import { CircuitBreaker } from './resilience/circuit-breaker.ts';
import { OutlierDetector } from './resilience/outlier-detector.ts';
import { RetryBudget } from './resilience/retry-budget.ts';

const RETRY_ON_STATUS = new Set([502, 503, 504]);

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders | Record<string, string | string[]>;
  /** A buffered body can be replayed on retry; a stream cannot (the call is then not retried). */
  body?: Buffer | Readable;
}

export interface UpstreamClusterOptions {
  service: string;
  identity: MeshIdentity;
  resolve: (service: string) => Promise<readonly { host: string; port: number }[]>;
  settings: ResilienceSettings;
  clock: Clock;
  metrics?: MeshMetrics;
  resolveCacheMs?: number;
}

export class UpstreamCluster {
  readonly #o: UpstreamClusterOptions;
  readonly #dispatcher: Dispatcher;
  readonly breaker: CircuitBreaker;
  readonly outliers: OutlierDetector;
  readonly budget: RetryBudget;
  #resolved: { at: number; endpoints: string[] } | undefined;
  #refreshing: Promise<void> | undefined;
  #next = 0;

  constructor(options: UpstreamClusterOptions) {
    this.#o = options;
    const { settings, clock, identity } = options;
    const expected = serviceSpiffeId(identity.trustDomain, options.service);
    this.#dispatcher = mtlsDispatcher(identity.credentials, {
      trustDomains: new Set([identity.trustDomain]),
      revocations: identity.revocations,
      authorizeServer: (id) => id === expected,
      connectTimeoutMs: settings.perTryTimeoutMs,
      // Below the mesh server's 65 s idle timeout, so the client never reuses a connection being closed.
      agent: { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, connections: 64 },
    });
    this.breaker = new CircuitBreaker(
      { failureThreshold: settings.circuitFailureThreshold, openMs: settings.circuitOpenMs },
      clock,
    );
    this.outliers = new OutlierDetector(
      {
        consecutiveErrors: settings.outlierConsecutiveErrors,
        baseEjectionMs: settings.outlierBaseEjectionMs,
        maxEjectedPercent: settings.outlierMaxEjectedPercent,
      },
      clock,
    );
    this.budget = new RetryBudget(
      { ratio: settings.retryBudgetRatio, minPerSecond: settings.retryBudgetMinPerSecond },
      clock,
    );
  }

  async call(request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const { settings, clock, service, metrics } = this.#o;
    if (!this.breaker.allow())
      throw sidecarError('sidecar_circuit_open', `the circuit to ${service} is open`);
    this.budget.recordRequest();
    const replayable = IDEMPOTENT_METHODS.has(request.method) && !isStream(request.body);
    const deadline = clock.now() + settings.totalTimeoutMs;
    const tried = new Set<string>();
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      const endpoints = await this.#endpoints();
      const available = this.outliers.available(endpoints);
      const fresh = available.filter((e) => !tried.has(e));
      const pool = fresh.length > 0 ? fresh : available;
      const endpoint = pool.length > 0 ? pool[this.#next++ % pool.length]! : undefined;
      const left = deadline - clock.now();
      const mayRetry = () =>
        replayable && attempt < settings.maxRetries && left > 0 && this.budget.tryRetry();
      if (!endpoint) {
        this.breaker.failure();
        throw sidecarError('sidecar_upstream_unavailable', `no healthy instance of ${service}`, {
          cause: lastError,
        });
      }
      tried.add(endpoint);
      try {
        const res = await this.#dispatcher.request({
          origin: `https://${endpoint}`,
          path: request.path,
          method: request.method as Dispatcher.HttpMethod,
          headers: request.headers as Record<string, string>,
          body: request.body ?? null,
          headersTimeout: Math.max(1, Math.min(settings.perTryTimeoutMs, left)),
          bodyTimeout: settings.totalTimeoutMs,
        });
        if (RETRY_ON_STATUS.has(res.statusCode)) {
          this.outliers.failure(endpoint, endpoints);
          if (mayRetry()) {
            await res.body.dump();
            metrics?.retries.inc({ service });
            continue;
          }
          this.breaker.failure();
          return res;
        }
        this.outliers.success(endpoint);
        this.breaker.success();
        return res;
      } catch (err) {
        lastError = err;
        this.outliers.failure(endpoint, endpoints);
        if (mayRetry()) {
          metrics?.retries.inc({ service });
          continue;
        }
        this.breaker.failure();
        throw classify(err, service);
      }
    }
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  /**
   * The instances to use now. Resolution is cached and refreshed in the background once stale, so no
   * request waits on discovery except the very first; if discovery is down, the last answer is kept.
   */
  async #endpoints(): Promise<string[]> {
    const resolved = this.#resolved;
    if (resolved) {
      if (this.#o.clock.now() - resolved.at >= (this.#o.resolveCacheMs ?? 1000))
        void this.#refresh().catch(() => undefined);
      return resolved.endpoints;
    }
    try {
      await this.#refresh();
    } catch (err) {
      throw sidecarError('sidecar_upstream_unavailable', 'service discovery failed', { cause: err });
    }
    return this.#resolved!.endpoints;
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const instances = await this.#o.resolve(this.#o.service);
        const endpoints = instances.map((i) => `${i.host.includes(':') ? `[${i.host}]` : i.host}:${i.port}`);
        this.#resolved = { at: this.#o.clock.now(), endpoints };
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }
}

function isStream(body: UpstreamRequest['body']): boolean {
  return body !== undefined && !Buffer.isBuffer(body);
}

function classify(err: unknown, service: string): BulwarkError {
  if (err instanceof BulwarkError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return sidecarError('sidecar_upstream_timeout', `${service} did not answer in time`, { cause: err });
  }
  return sidecarError('sidecar_upstream_unavailable', `${service} could not be reached`, { cause: err });
}
