/**
 * Stage 2: route selection on the canonical path, host and headers. Trusts: `ctx.request` (canonical).
 * A path that matches with another method answers 405, so the method cannot be used to probe routing.
 */
import { type RequestContext, whenFinished } from '../context.ts';
import { gatewayError } from '../errors.ts';

export function selectRoute(ctx: RequestContext): void {
  const { request } = ctx;
  const match = ctx.runtime.table.match(request.path, request.host, request.headers);
  if (!match) throw gatewayError('gateway_route_not_found', 'no route matches the request');
  ctx.route = match.route;
  ctx.params = match.params;
  // The route's service stays open until this request ends, even if a reload retires it meanwhile.
  whenFinished(ctx, match.route.service.hold());
  const methods = match.route.methods;
  // CORS preflights are answered by the cors stage whatever the route's methods; only on a route with
  // `cors` and with an Origin (what the cors stage answers): otherwise nothing answered them, and an
  // OPTIONS the route does not list went on to the upstream.
  const preflight =
    match.route.cors !== undefined &&
    request.method === 'OPTIONS' &&
    request.headers['origin'] !== undefined &&
    request.headers['access-control-request-method'] !== undefined;
  if (methods && !methods.has(request.method) && !preflight) {
    throw gatewayError('gateway_method_not_allowed', 'the route does not allow this method', {
      headers: { allow: [...methods].join(', ') },
    });
  }
}
