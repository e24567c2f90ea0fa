/**
 * One upstream service: an undici Pool per target (keep-alive, optional mTLS), the retry policy its
 * requests follow (attempts within a {@link RetryBudget}; the upstream stage runs the retries), and round
 * robin over targets whose circuit is closed and whose active health check passes. Trusts: the route
 * file's service spec (already schema-checked) and PEM files it names.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { Clock } from '../../core/index.ts';
import {
  mtlsConnector,
  parseSpiffeId,
  type RevocationCheck,
  type RotatingCredentials,
} from '../../core/mtls/index.ts';
import type { ServiceSpec } from '../routes/route-file.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { RetryBudget } from './retry-budget.ts';

export interface UpstreamTarget {
  readonly origin: string;
  readonly pool: Pool;
  readonly breaker: CircuitBreaker;
  healthy: boolean;
  consecutiveHealthFailures: number;
}

/** The gateway's own SVID, for upstreams named by SPIFFE ID (`tls.spiffeId`). */
export interface UpstreamIdentity {
  readonly credentials: RotatingCredentials;
  readonly trustDomain: string;
  readonly revocations: RevocationCheck;
}

export class UpstreamService {
  readonly name: string;
  readonly audience: string;
  readonly targets: readonly UpstreamTarget[];
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** How many times one request may be sent again (idempotent requests only, within `budget`). */
  readonly retryAttempts: number;
  readonly budget: RetryBudget;
  /** A fingerprint of the spec: an unchanged service keeps its pools across reloads. */
  readonly fingerprint: string;
  #next = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Requests routed to this service that have not finished (see {@link hold}). */
  #holds = 0;
  #retired = false;
  readonly #spec: ServiceSpec;

  constructor(spec: ServiceSpec, clock: Clock, identity?: UpstreamIdentity) {
    this.#spec = spec;
    this.name = spec.name;
    this.audience = spec.audience ?? spec.name;
    this.fingerprint = JSON.stringify(spec);
    this.headersTimeoutMs = spec.timeouts?.headersMs ?? 15_000;
    this.bodyTimeoutMs = spec.timeouts?.bodyMs ?? 30_000;
    this.budget = new RetryBudget(spec.retries?.budgetPercent ?? 20);
    const tls = spec.tls;
    const connect = tls?.spiffeId
      ? meshConnector(tls.spiffeId, identity, spec.timeouts?.connectMs ?? 2_000)
      : {
          timeout: spec.timeouts?.connectMs ?? 2_000,
          ...(tls?.caFile ? { ca: readFileSync(tls.caFile, 'utf8') } : {}),
          ...(tls?.certFile && tls.keyFile
            ? { cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8') }
            : {}),
          ...(tls?.serverName ? { servername: tls.serverName } : {}),
          rejectUnauthorized: true,
        };
    this.retryAttempts = spec.retries?.attempts ?? 1;
    this.targets = spec.targets.map((origin) => {
      const pool = new Pool(origin, {
        connections: spec.connections ?? 64,
        connect,
        headersTimeout: this.headersTimeoutMs,
        bodyTimeout: this.bodyTimeoutMs,
        keepAliveTimeout: 10_000,
      });
      return {
        origin,
        pool,
        breaker: new CircuitBreaker(
          clock,
          spec.circuitBreaker?.failures ?? 5,
          spec.circuitBreaker?.openMs ?? 10_000,
        ),
        healthy: true,
        consecutiveHealthFailures: 0,
      };
    });
  }

  /**
   * The next target able to take a request (round robin), or undefined when none is. `skip`: targets this
   * request could not reach already, passed over before their breaker is asked.
   */
  pick(skip?: ReadonlySet<UpstreamTarget>): UpstreamTarget | undefined {
    const n = this.targets.length;
    for (let i = 0; i < n; i++) {
      const target = this.targets[(this.#next + i) % n] as UpstreamTarget;
      if (skip?.has(target)) continue;
      if (target.healthy && target.breaker.tryAcquire()) {
        this.#next = (this.#next + i + 1) % n;
        return target;
      }
    }
    return undefined;
  }

  /** Starts active health checks (GET on the configured path); timers never keep the process alive. */
  startHealthChecks(): void {
    const check = this.#spec.healthCheck;
    if (!check || this.#timer) return;
    const unhealthyAfter = check.unhealthyAfter ?? 2;
    const probe = async (target: UpstreamTarget) => {
      let ok = false;
      try {
        const res = await target.pool.request({
          path: check.path,
          method: 'GET',
          headersTimeout: 2_000,
          bodyTimeout: 2_000,
        });
        await res.body.dump();
        ok = res.statusCode >= 200 && res.statusCode < 300;
      } catch {
        ok = false;
      }
      if (ok) {
        target.consecutiveHealthFailures = 0;
        target.healthy = true;
      } else if (++target.consecutiveHealthFailures >= unhealthyAfter) {
        target.healthy = false;
      }
    };
    const run = () => {
      for (const target of this.targets) void probe(target);
    };
    this.#timer = setInterval(run, check.intervalMs ?? 5_000);
    this.#timer.unref();
    run();
  }

  /**
   * Marks one request routed here, until the returned function is called. A request is routed before
   * its body is read and its token checked: a reload that retires the service meanwhile must not close
   * the pools under it (undici refuses a request on a closed pool: the client got a 502).
   */
  hold(): () => void {
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holds--;
      if (this.#retired && this.#holds === 0) void this.close();
    };
  }

  /** No longer in the table: stops health checks, and closes once the requests routed here finished. */
  retire(): Promise<void> | undefined {
    this.#retired = true;
    if (this.#timer) clearInterval(this.#timer);
    return this.#holds === 0 ? this.close() : undefined;
  }

  /** Stops health checks and closes the pools once their in-flight requests finish. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => undefined)));
  }
}

/** mTLS with the gateway's SVID to an upstream that must present `spiffeId` (a mesh service). */
function meshConnector(spiffeId: string, identity: UpstreamIdentity | undefined, timeoutMs: number) {
  if (!identity) {
    throw new TypeError(
      `tls.spiffeId needs the gateway's own SVID: run the gateway under \`bulwark up\` (or with a join token)`,
    );
  }
  const trustDomain = parseSpiffeId(spiffeId).trustDomain;
  return mtlsConnector(identity.credentials, {
    trustDomains: new Set([identity.trustDomain, trustDomain]),
    revocations: identity.revocations,
    authorizeServer: (id) => id === spiffeId,
    connectTimeoutMs: timeoutMs,
  });
}
