/**
 * Prometheus RED metrics for the gateway: requests and duration per route and consumer, and security
 * exceptions by reason (authn, authz, rate_limit, validation, ip, normalization, cors). Label children are
 * cached so the hot path does one map lookup per observation; consumers beyond a cap share one label so
 * an attacker cannot grow the series without bound.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type DenialReason =
  | 'authn'
  | 'authz'
  | 'authz_shadow'
  | 'rate_limit'
  | 'validation'
  | 'ip'
  | 'normalization'
  | 'cors'
  | 'parse';

const MAX_CONSUMERS = 500;

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'route' | 'consumer' | 'status'>;
  readonly #duration: Histogram<'route'>;
  readonly #denials: Counter<'reason' | 'route'>;
  readonly #reloads: Counter<'result'>;
  readonly #requestChildren = new Map<string, { inc(): void }>();
  readonly #durationChildren = new Map<string, { observe(v: number): void }>();
  readonly #consumers = new Set<string>();
  #feedStaleness: (() => number) | undefined;

  constructor() {
    this.#requests = new Counter({
      name: 'bulwark_gateway_requests_total',
      help: 'Requests answered, by route, consumer and status code.',
      labelNames: ['route', 'consumer', 'status'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'bulwark_gateway_request_duration_seconds',
      help: 'Time from request start to response end, by route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.#denials = new Counter({
      name: 'bulwark_gateway_security_denials_total',
      help: 'Requests refused by a security control, by reason and route.',
      labelNames: ['reason', 'route'],
      registers: [this.registry],
    });
    this.#reloads = new Counter({
      name: 'bulwark_gateway_route_reloads_total',
      help: 'Route file reloads, by result (applied or rejected).',
      labelNames: ['result'],
      registers: [this.registry],
    });
  }

  request(route: string, consumer: string, status: number, seconds: number): void {
    if (!this.#consumers.has(consumer)) {
      if (this.#consumers.size >= MAX_CONSUMERS) consumer = 'other';
      else this.#consumers.add(consumer);
    }
    const key = `${route}\u0000${consumer}\u0000${status}`;
    let child = this.#requestChildren.get(key);
    if (!child) {
      child = this.#requests.labels(route, consumer, String(status));
      this.#requestChildren.set(key, child);
    }
    child.inc();
    let hist = this.#durationChildren.get(route);
    if (!hist) {
      hist = this.#duration.labels(route);
      this.#durationChildren.set(route, hist);
    }
    hist.observe(seconds);
  }

  denial(reason: DenialReason, route: string): void {
    this.#denials.labels(reason, route).inc();
  }

  /**
   * Publishes `bulwark_gateway_revocation_feed_stale_seconds` from `staleSeconds` (only with a feed: a
   * gateway without one must not report a reassuring 0).
   */
  watchRevocationFeed(staleSeconds: () => number): void {
    if (this.#feedStaleness === undefined) {
      const metrics = this;
      new Gauge({
        name: 'bulwark_gateway_revocation_feed_stale_seconds',
        help: "Seconds since identity's revocation feed last answered: revocations made since are not known here (alert on it).",
        registers: [this.registry],
        collect() {
          if (metrics.#feedStaleness) this.set(metrics.#feedStaleness());
        },
      });
    }
    this.#feedStaleness = staleSeconds;
  }

  reload(result: 'applied' | 'rejected'): void {
    this.#reloads.labels(result).inc();
  }
}
