/**
 * The terminal stage: forwards the canonical request to one target of the route's service (undici Pool;
 * circuit breaker; round robin over healthy targets; retries and failover) and streams the answer back. Trusts everything the earlier stages established. The caller's token and API key never go
 * upstream; the gateway's own signed identity assertion does, with the subject, roles and tenant, and any
 * client copy of those headers was already removed by canonicalisation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodePath } from '../../core/http/canonical-path.ts';
import { IDEMPOTENT_METHODS } from '../../core/http/methods.ts';
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';
import { clientGone, forward, RETRY_STATUS } from '../upstream/forward.ts';
import { IDENTITY_HEADER, identityHeaderText } from '../upstream/identity-assertion.ts';
import { maskedExchange } from '../upstream/masked-exchange.ts';
import type { UpstreamTarget } from '../upstream/upstream-service.ts';

/** Response fields the gateway never passes back: hop-by-hop (RFC 9110 §7.6.1), banners, upstream CORS. */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'te',
  'server',
  'x-powered-by',
  'x-aspnet-version',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
]);

/** Errors where the request never left the gateway: another target may take it whatever the method. */
const NOT_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EHOSTUNREACH']);
/** Connection failures before any answer, after which an idempotent request may be sent again. */
const RETRY_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
/** Pause before retry n (n x this), so a restarting upstream is not hit again at once. */
const RETRY_BACKOFF_MS = 20;

export async function proxyUpstream(ctx: RequestContext): Promise<void> {
  const route = ctx.route;
  if (!route) throw gatewayError('gateway_route_not_found', 'no route matches the request');
  const service = route.service;
  service.budget.deposit();
  const { request } = ctx;
  // Credentials, hop-by-hop and x-bulwark-* fields were left out by canonicalisation (no `delete` here:
  // it would turn the object into a slow dictionary on the hot path).
  const headers: Record<string, string> = { ...request.forwardHeaders };
  headers['x-forwarded-for'] = ctx.clientIp;
  headers['x-forwarded-proto'] = ctx.runtime.tls ? 'https' : 'http';
  headers['x-forwarded-host'] = request.host;
  headers['x-request-id'] = ctx.id;
  const p = ctx.principal;
  if (p) {
    headers[IDENTITY_HEADER] = ctx.runtime.signer.assertion(p, service.audience);
    // Claims come from the issuer, not from us: percent-encoded unless plain header text.
    headers['x-bulwark-subject'] = identityHeaderText(p.subject);
    headers['x-bulwark-roles'] = rolesHeader(p.roles);
    headers['x-bulwark-tenant'] = identityHeaderText(p.tenant);
  }
  let path = request.upstreamPath;
  const strip = route.spec.stripPrefix;
  if (strip && (request.path === strip || request.path.startsWith(`${strip}/`))) {
    path = encodePath(request.path.slice(strip.length) || '/');
  }
  if (request.query) path = `${path}?${request.query}`;
  const extra = ctx.responseHeaders;
  const id = ctx.id;
  const mapHead = (_status: number, upstream: Record<string, string | string[] | undefined>) => {
    const out: Record<string, string | string[]> = {};
    const connection = upstream['connection'];
    const named = typeof connection === 'string' ? connection.toLowerCase().split(/\s*,\s*/) : [];
    for (const name in upstream) {
      const value = upstream[name];
      if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name) || named.includes(name)) continue;
      out[name] = value;
    }
    Object.assign(out, route.responseHeaders);
    for (const name in extra) out[name] = extra[name] as string;
    // The cors stage's `Vary: Origin` is added to the upstream's Vary, not put in its place: a shared
    // cache would otherwise serve one encoding or language of the answer for all.
    const vary = upstream['vary'];
    if (extra['vary'] !== undefined && vary !== undefined)
      out['vary'] = `${[vary].flat().join(', ')}, ${extra['vary']}`;
    out['x-request-id'] = id;
    return out;
  };
  const options = {
    path,
    method: request.method,
    headers,
    body: ctx.body ?? null,
    headersTimeout: service.headersTimeoutMs,
    bodyTimeout: service.bodyTimeoutMs,
  };
  // Retries (Envoy's and Finagle's model): only idempotent requests, only before any byte of an answer
  // went to the client (a connection reset, or a 503 held back), at most `retryAttempts` times and
  // while the service's retry budget has tokens, so a failing upstream never sees a retry storm.
  const idempotent = IDEMPOTENT_METHODS.has(request.method);
  let retries = 0;
  const mayRetry = (): boolean => {
    if (!idempotent || retries >= service.retryAttempts || !service.budget.withdraw()) return false;
    retries++;
    return true;
  };
  const retryStatus = (status: number) => status === 503 && mayRetry();
  const unreachable = new Set<UpstreamTarget>();
  for (;;) {
    // A client that went away while the checks ran (e.g. an HTTP/2 stream reset) costs no upstream call.
    if (clientGone(ctx.res)) return;
    const target = service.pick(unreachable);
    if (!target) throw gatewayError('gateway_upstream_unavailable', 'no healthy upstream target');
    try {
      const status = route.masking
        ? await maskedExchange(
            target.pool,
            options,
            ctx.res,
            mapHead,
            route.masking,
            p?.roles ?? [],
            retryStatus,
          )
        : await forward(target.pool, options, ctx.res, mapHead, retryStatus);
      if (status >= 502 && status <= 504) target.breaker.failure();
      else target.breaker.success();
      return;
    } catch (err) {
      // The client left (e.g. reset its HTTP/2 stream) and the exchange was abandoned: not the upstream's fault.
      if (clientGone(ctx.res)) {
        target.breaker.release();
        return;
      }
      // The upstream answered, but the answer could not be passed on (masking): judged by its status.
      const answered = (err as { upstreamStatus?: number }).upstreamStatus;
      if (answered !== undefined) {
        if (answered >= 502 && answered <= 504) target.breaker.failure();
        else target.breaker.success();
        throw gatewayError('gateway_upstream_error', 'the upstream failed', { cause: err });
      }
      target.breaker.failure();
      const code = (err as { code?: string }).code ?? '';
      if (NOT_SENT.has(code)) {
        unreachable.add(target);
        if (unreachable.size < service.targets.length) continue;
      } else if (code === RETRY_STATUS || (RETRY_ERRORS.has(code) && mayRetry())) {
        await sleep(RETRY_BACKOFF_MS * retries);
        continue;
      }
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
        throw gatewayError('gateway_upstream_timeout', 'the upstream did not answer in time', { cause: err });
      }
      throw gatewayError('gateway_upstream_error', 'the upstream failed', { cause: err });
    }
  }
}

/** `x-bulwark-roles`: the roles joined by commas, each one as {@link identityHeaderText} writes it. */
function rolesHeader(roles: readonly string[]): string {
  let out = '';
  for (let i = 0; i < roles.length; i++) out += (i ? ',' : '') + identityHeaderText(roles[i] as string);
  return out;
}
