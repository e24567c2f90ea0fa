/**
 * Stages 5 and 7: rate limits and concurrency. Rules keyed by client address, route or a header run before
 * authentication (cheap floods never reach token checks); rules keyed by subject, client or API key run
 * after it. Trusts: `ctx.clientIp` (trusted-proxy aware) and, after authentication, `ctx.principal`.
 * Answers 429 with Retry-After and RateLimit-* fields (draft-ietf-httpapi-ratelimit-headers).
 */
import { hash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { type RequestContext, whenFinished } from '../context.ts';
import { gatewayError } from '../errors.ts';
import { StoreUnavailable } from '../limits/limiter-factory.ts';
import type { Limiter } from '../routes/route-table.ts';

const BEFORE_AUTH = (by: string) => by === 'ip' || by === 'route' || by.startsWith('header:');

export function limitByClient(ctx: RequestContext): Promise<void> | undefined {
  const route = ctx.route;
  if (!route) return undefined;
  const rules = route.limiters.filter((l) => BEFORE_AUTH(l.spec.by));
  const max = route.spec.concurrency;
  if (max === undefined) return rules.length ? applyRules(ctx, rules) : undefined;
  const taken = ctx.runtime.counters.acquire(route.name, max);
  if (typeof taken === 'boolean') {
    holdSlot(ctx, route.name, taken);
    return rules.length ? applyRules(ctx, rules) : undefined;
  }
  return taken.then(
    (ok) => {
      holdSlot(ctx, route.name, ok);
      return rules.length ? applyRules(ctx, rules) : undefined;
    },
    (err: unknown) => {
      throw gatewayError('gateway_rate_store_unavailable', 'rate limit store unavailable', {
        cause: err,
        headers: { 'retry-after': '1' },
      });
    },
  );
}

/** Keeps a taken slot until the response ends, or refuses the request when none was free. */
function holdSlot(ctx: RequestContext, route: string, taken: boolean): void {
  if (!taken) {
    throw gatewayError('gateway_concurrency_limited', 'too many requests in flight', {
      headers: { 'retry-after': '1' },
    });
  }
  const counters = ctx.runtime.counters;
  whenFinished(ctx, () => counters.release(route));
}

export function limitByCaller(ctx: RequestContext): Promise<void> | undefined {
  const rules = ctx.route?.limiters.filter((l) => !BEFORE_AUTH(l.spec.by));
  return rules?.length ? applyRules(ctx, rules) : undefined;
}

async function applyRules(ctx: RequestContext, rules: readonly Limiter[]): Promise<void> {
  let tightest: { limit: number; remaining: number; resetMs: number } | undefined;
  for (const limiter of rules) {
    const key = keyFor(ctx, limiter.spec);
    let result: Awaited<ReturnType<Limiter['consume']>>;
    try {
      result = await limiter.consume(key);
    } catch (err) {
      if (err instanceof StoreUnavailable && limiter.spec.failOpen) {
        ctx.runtime.logger.warn({ route: ctx.route?.name }, 'rate-limit store down; failing open');
        continue;
      }
      throw gatewayError('gateway_rate_store_unavailable', 'rate limit store unavailable', {
        cause: err,
        headers: { 'retry-after': '1' },
      });
    }
    const limit = limiter.limit ?? limiter.spec.points;
    if (!tightest || result.remaining < tightest.remaining) {
      tightest = { limit, remaining: result.remaining, resetMs: result.resetMs };
    }
    if (!result.allowed) {
      // RFC 9110 §10.2.3: Retry-After in whole seconds, rounded up so a client that obeys it is let in.
      const seconds = String(Math.max(1, Math.ceil((result.retryAfterMs ?? result.resetMs) / 1000)));
      setRateHeaders(ctx, limit, 0, seconds);
      throw gatewayError('gateway_rate_limited', 'rate limit exceeded', {
        headers: { 'retry-after': seconds },
      });
    }
  }
  if (tightest)
    setRateHeaders(ctx, tightest.limit, tightest.remaining, String(Math.ceil(tightest.resetMs / 1000)));
}

function setRateHeaders(ctx: RequestContext, limit: number, remaining: number, reset: string): void {
  ctx.responseHeaders['ratelimit-limit'] = String(limit);
  ctx.responseHeaders['ratelimit-remaining'] = String(Math.max(0, remaining));
  ctx.responseHeaders['ratelimit-reset'] = reset;
}

function keyFor(ctx: RequestContext, spec: Limiter['spec']): string {
  const p = ctx.principal;
  switch (spec.by) {
    case 'ip':
      return ipKey(ctx.clientIp, spec.ipv6Prefix);
    case 'route':
      return 'route';
    case 'subject':
      return p ? `sub:${p.subject}` : ipKey(ctx.clientIp, spec.ipv6Prefix);
    case 'client':
      return p ? `client:${p.clientId ?? p.subject}` : ipKey(ctx.clientIp, spec.ipv6Prefix);
    case 'api-key':
      return p?.kind === 'api-key' ? `key:${p.consumer}` : ipKey(ctx.clientIp, spec.ipv6Prefix);
    default: {
      const name = spec.by.slice(7);
      return headerKey(ctx.request.headers[name] ?? '', CREDENTIAL_HEADERS.has(name));
    }
  }
}

/** The prefix an IPv6 client is counted by unless the rule says otherwise (RFC 6177: a /64 per site at least). */
const DEFAULT_IPV6_PREFIX = 64;

/** An address as a limit key: IPv4 as it is, IPv6 cut to its first `prefix` bits. */
function ipKey(ip: string, prefix = DEFAULT_IPV6_PREFIX): string {
  // The client address was checked where it was read: a colon means IPv6 (mapped IPv4 is unwrapped).
  if (prefix >= 128 || !ip.includes(':')) return `ip:${ip}`;
  let bytes: number[];
  try {
    bytes = ipaddr.IPv6.parse(ip).toByteArray();
  } catch {
    return `ip:${ip}`; // a form node accepts and ipaddr.js does not: counted by the whole address
  }
  const whole = prefix >> 3;
  const bits = prefix & 7;
  let hex = Buffer.from(bytes.slice(0, whole)).toString('hex');
  if (bits) hex += (bytes[whole]! & (0xff << (8 - bits)) & 0xff).toString(16).padStart(2, '0');
  return `ip6:${hex}/${prefix}`;
}

/** Header values longer than this are counted under their hash (see {@link headerKey}). */
const MAX_PLAIN_KEY = 64;

/**
 * A header-keyed rule's key. The value is the client's to choose, up to the header size limit: a long one
 * is kept (in memory, in Redis, or sent to the component) as its SHA-256, not as sent.
 */
function headerKey(value: string, credential: boolean): string {
  return value.length <= MAX_PLAIN_KEY && !credential
    ? `h:${value}`
    : `h#${hash('sha256', value, 'base64url')}`;
}

/**
 * Headers whose value is a credential: a limit keyed by one keeps only its hash, whatever its length, so no
 * API key or token sits in Redis or crosses to the component process in clear.
 */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
]);
