/**
 * Header hygiene at each proxy hop: hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded, nor any
 * header the `Connection` header names, and the identity header is removed before the sidecar sets its
 * own, so no caller can present an identity it has not proven with its certificate.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { connectionOptions, HOP_BY_HOP_HEADERS } from '../core/http/hop-by-hop.ts';

const canonical = (name: string) => {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
};

/**
 * Copies the headers worth forwarding. Headers in `remove` are dropped in every spelling an application
 * framework might read as the same name: CGI-style stacks (WSGI, Rack, PHP) map `-` and `_` to one
 * variable, so `x_bulwark_peer_id` would otherwise pass for the identity header.
 */
export function forwardHeaders(
  headers: IncomingHttpHeaders,
  remove: readonly string[] = [],
): OutgoingHttpHeaders {
  // Host is set by the client of the next hop, not copied from this one.
  const drop = new Set([
    ...HOP_BY_HOP_HEADERS,
    'host',
    ...connectionOptions(String(headers.connection ?? '')),
  ]);
  const removed = new Set(remove.map(canonical));
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !drop.has(name) && !removed.has(canonical(name))) out[name] = value;
  }
  return out;
}

/** RFC 9112 §3.2.1: a proxy forwards origin-form targets only (`/path?query`), never absolute-form. */
export function isOriginForm(target: string | undefined): target is string {
  return typeof target === 'string' && target.startsWith('/') && !target.startsWith('//');
}
