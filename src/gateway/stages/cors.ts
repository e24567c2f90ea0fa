/**
 * Stage 3: CORS (Fetch standard, CORS protocol) with a strict per-route origin allow-list. Trusts:
 * `ctx.route` and the `Origin` header only as a string to compare. Preflights are answered here and never
 * reach the upstream; upstream CORS headers are dropped by the upstream stage (the gateway owns CORS).
 */
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';

export function applyCors(ctx: RequestContext): 'done' | undefined {
  const cors = ctx.route?.cors;
  if (!cors) return undefined;
  const origin = ctx.request.headers['origin'];
  // The answer depends on Origin also when there is none (Fetch standard, CORS protocol and HTTP caches):
  // without Vary, a cache could serve the answer without Access-Control-Allow-Origin to a CORS request.
  ctx.responseHeaders['vary'] = 'Origin';
  if (origin === undefined) return undefined;
  const allowed = cors.origins.includes(origin) || (cors.origins.includes('*') && !cors.credentials);
  const requested = ctx.request.headers['access-control-request-method'];
  if (ctx.request.method === 'OPTIONS' && requested !== undefined) {
    const methods = cors.methods ?? ctx.route?.spec.methods ?? ['GET'];
    if (!allowed || !methods.includes(requested))
      throw gatewayError('gateway_cors_rejected', 'origin or method not allowed');
    const headers: Record<string, string> = {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': methods.join(', '),
      'access-control-max-age': String(cors.maxAgeSeconds ?? 600),
      vary: 'Origin',
    };
    if (cors.headers?.length) headers['access-control-allow-headers'] = cors.headers.join(', ');
    if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
    // The route's headers (security, deprecation) and the request id, as on every other answer: the
    // preflight's 204 went out without nosniff, frame and resource policies or HSTS.
    ctx.res.writeHead(204, {
      ...ctx.route?.responseHeaders,
      ...ctx.responseHeaders,
      ...headers,
      'x-request-id': ctx.id,
    });
    ctx.res.end();
    return 'done';
  }
  if (allowed) {
    // Echo the one matching origin, never `*` with credentials.
    ctx.responseHeaders['access-control-allow-origin'] = origin;
    if (cors.credentials) ctx.responseHeaders['access-control-allow-credentials'] = 'true';
  }
  return undefined;
}
