/**
 * Stage 1: the canonical request. Trusts nothing: reads the raw request-target and raw header list as the
 * client sent them, after node's strict HTTP/1.1 parser. Everything later reads `ctx.request` only.
 */

import { METHODS } from 'node:http';
import ipaddr from 'ipaddr.js';
import { canonicalTarget } from '../../core/http/canonical-path.ts';
import { inspectHeaders } from '../canonical/headers.ts';
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';

/**
 * The methods node's HTTP/1.1 parser accepts (registered, upper-case). HTTP/2 takes any token as `:method`:
 * a lower-case `delete` was not DELETE to routes and policies (Cedar saw the action "write"), while an
 * upstream that upper-cases methods (Werkzeug does) deleted. Both protocols now get the same set.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

export function canonicalize(ctx: RequestContext): void {
  const { req, runtime } = ctx;
  const method = req.method ?? 'GET';
  if (!KNOWN_METHODS.has(method)) {
    throw gatewayError('gateway_bad_request', 'request refused: unknown_method', {
      details: { reason: 'unknown_method' },
    });
  }
  const headers = inspectHeaders(req.rawHeaders, runtime.maxHeaders);
  if ('reason' in headers) {
    const code = headers.reason.startsWith('host') ? 'gateway_host_rejected' : 'gateway_bad_request';
    throw gatewayError(code, `request refused: ${headers.reason}`, { details: { reason: headers.reason } });
  }
  if (runtime.allowedHosts && !runtime.allowedHosts.has(headers.host)) {
    // RFC 9110 §15.5.20: a request for a host this server does not serve.
    throw gatewayError('gateway_misdirected', 'this gateway does not serve the requested host');
  }
  const target = canonicalTarget(req.url ?? '', runtime.pathOptions);
  if (!target.ok) {
    throw gatewayError('gateway_path_rejected', `request path refused: ${target.reason}`, {
      details: { reason: target.reason },
    });
  }
  ctx.request = {
    method,
    path: target.path,
    upstreamPath: target.upstreamPath,
    query: target.query,
    host: headers.host,
    forwardHeaders: headers.forward,
    headers: headers.all,
    peerIp: normaliseIp(req.socket.remoteAddress ?? ''),
  };
  ctx.clientIp = ctx.request.peerIp;
}

/** `::ffff:10.0.0.1` is 10.0.0.1: one spelling per address, so CIDR lists and limits see one key. */
export function normaliseIp(ip: string): string {
  // Node's own spelling of an IPv4 peer on a dual-stack socket: the hot path.
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  // Other spellings (upper case, hex, zeros written out) from a proxy's X-Forwarded-For name the same
  // IPv4 client: as IPv6 they would miss IPv4 allow and deny ranges and share one /64 limit key.
  if (MAPPED.test(ip) && ipaddr.IPv6.isValid(ip)) {
    const address = ipaddr.IPv6.parse(ip);
    if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  }
  return ip;
}

const MAPPED = /^[0:]*:ffff:/i;
