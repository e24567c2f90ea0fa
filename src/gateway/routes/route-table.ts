/**
 * Compiles a checked route document into what the hot path reads: path matchers, per-route CIDR lists,
 * validators, limiters and the upstream service. Compilation does all the work that can fail (schemas,
 * CIDRs, certificate files), so a table that compiles can be swapped in atomically and a bad file never
 * replaces a good one. Unchanged services and limiters are carried over from the previous table.
 */
import { BlockList, isIPv6 } from 'node:net';
import type { Clock } from '../../core/index.ts';
import { compileMaskingPolicy, type MaskingPolicy } from '../../core/masking/index.ts';
import { fieldMap } from '../canonical/headers.ts';
import { gatewayError } from '../errors.ts';
import type { LimitDecision } from '../limits/algorithms.ts';
import { type UpstreamIdentity, UpstreamService } from '../upstream/upstream-service.ts';
import { type CompiledValidation, compileValidation } from '../validation/request-schema.ts';
import type { ConsumerSpec, CorsSpec, RateLimitSpec, RouteDocument, RouteSpec } from './route-file.ts';

export interface Limiter {
  readonly spec: RateLimitSpec;
  /** What RateLimit-Limit announces: `points`, or the bucket's capacity for a token bucket. */
  readonly limit?: number;
  /** Consumes one point for `key`; resolves with the limiter's view after the request. */
  consume(key: string): Promise<Omit<LimitDecision, 'retryAfterMs'> & { retryAfterMs?: number }>;
}

export type LimiterFactory = (routeName: string, index: number, spec: RateLimitSpec) => Limiter;

export interface CompiledRoute {
  readonly name: string;
  readonly spec: RouteSpec;
  readonly service: UpstreamService;
  readonly methods: ReadonlySet<string> | undefined;
  readonly hosts: ReadonlySet<string> | undefined;
  readonly matchHeaders: readonly [string, string][];
  readonly allow: BlockList | undefined;
  readonly deny: BlockList | undefined;
  readonly limiters: readonly Limiter[];
  readonly validation: CompiledValidation | undefined;
  readonly cors: CorsSpec | undefined;
  /** Precomputed Deprecation / Sunset / Link headers (RFC 9745, RFC 8594). */
  readonly deprecationHeaders: Readonly<Record<string, string>>;
  /** What every proxied response of this route gets: deprecation and security headers, merged once. */
  readonly responseHeaders: Readonly<Record<string, string>>;
  /** Masks applied to the route's JSON responses, per role. */
  readonly masking: MaskingPolicy | undefined;
}

interface Pattern {
  route: CompiledRoute;
  segments: string[];
  wildcard: boolean;
}

export interface RouteMatch {
  route: CompiledRoute;
  params: Record<string, string>;
}

export class RouteTable {
  readonly document: RouteDocument;
  readonly services: ReadonlyMap<string, UpstreamService>;
  readonly routes: readonly CompiledRoute[];
  readonly consumersByHash: ReadonlyMap<string, ConsumerSpec>;
  readonly #exact = new Map<string, CompiledRoute[]>();
  readonly #patterns: Pattern[] = [];
  readonly limiterCache: ReadonlyMap<string, Limiter>;

  constructor(
    document: RouteDocument,
    clock: Clock,
    makeLimiter: LimiterFactory,
    previous?: RouteTable,
    /** Security headers of every response (response.ts); none in offline validation. */
    securityHeaders: Readonly<Record<string, string>> = {},
    /** The gateway's SVID, for upstreams named by SPIFFE ID. */
    upstreamIdentity?: UpstreamIdentity,
  ) {
    this.document = document;
    const services = new Map<string, UpstreamService>();
    for (const spec of document.services) {
      const old = previous?.services.get(spec.name);
      try {
        services.set(
          spec.name,
          old && old.fingerprint === JSON.stringify(spec)
            ? old
            : new UpstreamService(spec, clock, upstreamIdentity),
        );
      } catch (err) {
        throw gatewayError('gateway_route_file_invalid', `service ${spec.name}: ${(err as Error).message}`);
      }
    }
    this.services = services;
    const limiterCache = new Map<string, Limiter>();
    this.routes = document.routes.map((spec) => {
      const limiters = (spec.rateLimits ?? []).map((l, i) => {
        const key = `${spec.name}\u0000${i}\u0000${JSON.stringify(l)}`;
        const limiter = previous?.limiterCache.get(key) ?? makeLimiter(spec.name, i, l);
        limiterCache.set(key, limiter);
        return limiter;
      });
      return compileRoute(spec, services.get(spec.service) as UpstreamService, limiters, securityHeaders);
    });
    this.limiterCache = limiterCache;
    for (const route of this.routes) {
      for (const path of route.spec.paths) {
        const wildcard = path.endsWith('/*');
        const body = wildcard ? path.slice(0, -2) : path;
        if (!wildcard && !path.includes(':')) {
          const list = this.#exact.get(path) ?? [];
          list.push(route);
          this.#exact.set(path, list);
        } else {
          this.#patterns.push({ route, segments: body.split('/').slice(1), wildcard });
        }
      }
    }
    this.consumersByHash = new Map((document.consumers ?? []).map((c) => [c.apiKeyHash.slice(7), c]));
  }

  /**
   * The first route (in file order among exact paths, then patterns) whose path, host and headers match.
   * Methods are checked by the caller, so that a path match with a wrong method answers 405, not 404.
   */
  match(path: string, host: string, headers: Readonly<Record<string, string>>): RouteMatch | undefined {
    const exact = this.#exact.get(path);
    if (exact) {
      for (const route of exact) if (accepts(route, host, headers)) return { route, params: {} };
    }
    if (this.#patterns.length === 0) return undefined;
    const segments = path.split('/').slice(1);
    for (const p of this.#patterns) {
      const params = matchSegments(p, segments);
      if (params && accepts(p.route, host, headers)) return { route: p.route, params };
    }
    return undefined;
  }

  /** Services of `previous` no longer used here (to close once drained). */
  retiredFrom(previous: RouteTable): UpstreamService[] {
    const current = new Set(this.services.values());
    return [...previous.services.values()].filter((s) => !current.has(s));
  }

  startHealthChecks(): void {
    for (const service of this.services.values()) service.startHealthChecks();
  }
}

function accepts(route: CompiledRoute, host: string, headers: Readonly<Record<string, string>>): boolean {
  if (route.hosts && !route.hosts.has(host)) return false;
  for (const [name, value] of route.matchHeaders) if (headers[name] !== value) return false;
  return true;
}

function matchSegments(p: Pattern, segments: string[]): Record<string, string> | undefined {
  if (p.wildcard ? segments.length <= p.segments.length : segments.length !== p.segments.length) {
    // `/api/*` matches `/api/x...` but not `/api` itself (declare `/api` separately).
    return undefined;
  }
  // Without a prototype, as the query: `:__proto__` on a plain object set nothing, and the schema saw no value.
  const params = fieldMap();
  for (let i = 0; i < p.segments.length; i++) {
    const want = p.segments[i] as string;
    const got = segments[i] as string;
    if (want.startsWith(':')) {
      if (got === '') return undefined;
      params[want.slice(1)] = got;
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}

function compileRoute(
  spec: RouteSpec,
  service: UpstreamService,
  limiters: Limiter[],
  security: Readonly<Record<string, string>>,
): CompiledRoute {
  const where = `route ${spec.name}`;
  let validation: CompiledValidation | undefined;
  try {
    validation = spec.validate ? compileValidation(spec.validate) : undefined;
  } catch (err) {
    throw gatewayError(
      'gateway_route_file_invalid',
      `${where}: schema does not compile: ${(err as Error).message}`,
    );
  }
  const deprecationHeaders: Record<string, string> = {};
  if (spec.deprecation?.deprecatedAt) {
    // RFC 9745 §2.1: Deprecation = @<unix seconds>.
    deprecationHeaders['deprecation'] = `@${Math.floor(Date.parse(spec.deprecation.deprecatedAt) / 1000)}`;
  }
  if (spec.deprecation?.sunsetAt) {
    // RFC 8594 §3: Sunset = HTTP-date.
    deprecationHeaders['sunset'] = new Date(spec.deprecation.sunsetAt).toUTCString();
  }
  if (spec.deprecation?.link) deprecationHeaders['link'] = `<${spec.deprecation.link}>; rel="deprecation"`;
  return {
    name: spec.name,
    spec,
    service,
    methods: spec.methods ? new Set(spec.methods) : undefined,
    // Spelled as the request's host is (canonical/headers.ts): lower case, no trailing dot.
    hosts: spec.hosts ? new Set(spec.hosts.map((h) => h.toLowerCase().replace(/\.$/, ''))) : undefined,
    matchHeaders: Object.entries(spec.matchHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    allow: spec.ipAllow ? blockList(spec.ipAllow, where) : undefined,
    deny: spec.ipDeny ? blockList(spec.ipDeny, where) : undefined,
    limiters,
    validation,
    cors: spec.cors,
    deprecationHeaders,
    responseHeaders: Object.freeze({ ...deprecationHeaders, ...security }),
    masking: spec.mask ? compileMaskingPolicy(spec.mask) : undefined,
  };
}

/** A node BlockList from CIDRs (IPv4 and IPv6); a bare address is a /32 or /128. */
export function blockList(cidrs: readonly string[], where: string): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/') as [string, string | undefined];
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    const prefix = bits === undefined ? (type === 'ipv6' ? 128 : 32) : Number(bits);
    try {
      list.addSubnet(address, prefix, type);
    } catch {
      throw gatewayError('gateway_route_file_invalid', `${where}: invalid CIDR ${cidr}`);
    }
  }
  return list;
}
