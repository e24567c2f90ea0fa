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
      const hop = hopAddress(hops[i] as string);
      if (hop === '') break; // garbage: stop at the last good address
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

/** `203.0.113.9:51234`: an IPv4 address and the client's port, as some proxies write it. */
const IPV4_AND_PORT = /^([0-9.]+):[0-9]{1,5}$/;
/** `[2001:db8::1]:443` or `[2001:db8::1]` (RFC 3986 IP-literal, RFC 7239 §6). */
const BRACKETED = /^\[([0-9A-Fa-f:.]+)\](?::[0-9]{1,5})?$/;

/**
 * The address in one X-Forwarded-For entry, or '' when there is none. Azure Application Gateway and others
 * append the client's port: such an entry read as garbage made the client the proxy itself, so with the
 * proxy inside an allowed range every client got in and all shared the proxy's rate limits.
 */
function hopAddress(entry: string): string {
  let hop = entry.trim();
  const port = IPV4_AND_PORT.exec(hop) ?? BRACKETED.exec(hop);
  if (port) hop = port[1] as string;
  hop = normaliseIp(hop);
  return isIP(hop) === 0 ? '' : hop;
}

function isTrusted(list: NonNullable<RequestContext['runtime']['trustedProxies']>, ip: string): boolean {
  return list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}
