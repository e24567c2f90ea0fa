/**
 * Stage 4: client address and per-route IP allow/deny lists (IPv4 and IPv6 CIDRs). Trusts the TCP peer
 * address; trusts `X-Forwarded-For` only when the peer is a configured trusted proxy, and then only the
 * entries appended by trusted proxies: the list is read from the right and the first address that is
 * not a trusted proxy is the client (anything left of it was written by the client and is ignored).
 */
import { isIP } from 'node:net';
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';
import { normaliseIp } from './canonicalize.ts';

export function filterIp(ctx: RequestContext): void {
  const { runtime, request } = ctx;
  const trusted = runtime.trustedProxies;
  const xff = request.headers['x-forwarded-for'];
  if (trusted && xff !== undefined && isTrusted(trusted, request.peerIp)) {
    const hops = xff.split(',');
    let client = request.peerIp;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normaliseIp((hops[i] as string).trim());
      if (isIP(hop) === 0) break; // garbage: stop at the last good address
      client = hop;
      if (!isTrusted(trusted, hop)) break;
    }
    ctx.clientIp = client;
  }
  const route = ctx.route;
  if (!route || (!route.allow && !route.deny)) return;
  const type = isIP(ctx.clientIp) === 6 ? 'ipv6' : 'ipv4';
  if (route.deny?.check(ctx.clientIp, type)) throw gatewayError('gateway_ip_denied', 'client address denied');
  if (route.allow && !route.allow.check(ctx.clientIp, type)) {
    throw gatewayError('gateway_ip_denied', 'client address not in the allow list');
  }
}

function isTrusted(list: NonNullable<RequestContext['runtime']['trustedProxies']>, ip: string): boolean {
  return list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}
