/**
 * The terminal stage: forwards the canonical request to one target of the route's service (undici Pool
 * with the retry interceptor; circuit breaker; round robin over healthy targets) and streams the answer
 * back. Trusts everything the earlier stages established. The caller's token and API key never go
 * upstream; the gateway's own signed identity assertion does, with the subject, roles and tenant, and any
 * client copy of those headers was already removed by canonicalisation.
 */
import { encodePath } from '../../core/http/canonical-path.ts';
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';
import { clientGone, forward } from '../upstream/forward.ts';
import { IDENTITY_HEADER } from '../upstream/identity-assertion.ts';
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
    headers['x-bulwark-subject'] = p.subject;
    headers['x-bulwark-roles'] = p.roles.join(',');
    headers['x-bulwark-tenant'] = p.tenant;
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
  const tried = new Set<UpstreamTarget>();
  for (;;) {
    // A client that went away while the checks ran (e.g. an HTTP/2 stream reset) costs no upstream call.
    if (clientGone(ctx.res)) return;
    const target = service.pick();
    if (!target || tried.has(target))
      throw gatewayError('gateway_upstream_unavailable', 'no healthy upstream target');
    tried.add(target);
    try {
      const status = route.masking
        ? await maskedExchange(target.dispatcher, options, ctx.res, mapHead, route.masking, p?.roles ?? [])
        : await forward(target.dispatcher, options, ctx.res, mapHead);
      if (status >= 502 && status <= 504) target.breaker.failure();
      else target.breaker.success();
      return;
    } catch (err) {
      // The client left (e.g. reset its HTTP/2 stream) and the exchange was abandoned: not the upstream's fault.
      if (clientGone(ctx.res)) {
        target.breaker.release();
        return;
      }
      target.breaker.failure();
      const code = (err as { code?: string }).code ?? '';
      if (NOT_SENT.has(code) && tried.size < service.targets.length) continue;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
        throw gatewayError('gateway_upstream_timeout', 'the upstream did not answer in time', { cause: err });
      }
      throw gatewayError('gateway_upstream_error', 'the upstream failed', { cause: err });
    }
  }
}
