/**
 * Header checks node's parser leaves to us, and the header set forwarded upstream. Trusts nothing: input
 * is `rawHeaders` as the client sent them (node has already refused obs-fold, whitespace before the colon,
 * NUL/CR/LF in values, CL+TE together and oversize header blocks; see `server.ts`).
 */

import { connectionOptions, HOP_BY_HOP_HEADERS } from '../../core/http/hop-by-hop.ts';

export type HeaderRejection =
  | 'duplicate_content_length'
  | 'duplicate_transfer_encoding'
  | 'content_length_and_transfer_encoding'
  | 'bad_content_length'
  | 'bad_transfer_encoding'
  | 'too_many_headers'
  | 'host_missing'
  | 'host_repeated'
  | 'host_malformed';

/** Fields the gateway sets itself upstream: a client copy is always dropped (identity spoofing). */
export const IDENTITY_HEADER_PREFIX = 'x-bulwark-';

/**
 * Fields the gateway rewrites for the upstream, and the caller's credentials, which never go upstream (the
 * gateway's signed identity assertion does).
 */
const REWRITTEN = new Set([
  'host',
  'content-length',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'expect',
  'authorization',
  'x-api-key',
]);

/**
 * Instances have no prototype, so a field named `constructor` or `__proto__` is just a field (in a plain
 * object the first read Object's own function, forwarded as "function Object() { [native code] }, 1",
 * and the second hit the prototype setter and vanished). Made as node's querystring makes its result: an
 * instance of a constructor whose prototype has no prototype stays a fast object, where
 * `Object.create(null)` starts as a dictionary. (A class would not do: its prototype has `constructor`.)
 */
const NullPrototype = function NullPrototype() {} as unknown as new () => object;
NullPrototype.prototype = Object.create(null);

/** An empty map from field names (headers, query parameters) to values, with no inherited members. */
export function fieldMap<T = string>(): Record<string, T> {
  return new NullPrototype() as Record<string, T>;
}

// RFC 9110 §7.2 Host = uri-host [ ":" port ]; reg-name restricted to DNS letters (no userinfo, no spaces).
const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;

export interface HeaderFacts {
  /** Lower-cased host without port. */
  host: string;
  /** Headers to forward, lower-cased names; repeated fields joined with ", " (RFC 9110 §5.3). */
  forward: Record<string, string>;
  /** Every header as received, lower-cased names, first value only (for checks that read one value). */
  all: Record<string, string>;
  /** Whether the client asked to close the connection. */
  close: boolean;
}

/**
 * @example
 * const facts = inspectHeaders(req.rawHeaders, 100);
 * if ('reason' in facts) reject(facts.reason);
 */
export function inspectHeaders(
  raw: readonly string[],
  maxHeaders: number,
): HeaderFacts | { reason: HeaderRejection } {
  if (raw.length / 2 > maxHeaders) return { reason: 'too_many_headers' };
  let cl = 0;
  let te = 0;
  let hosts = 0;
  let host = '';
  let connection = '';
  const all = fieldMap();
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 0x3a) {
      // HTTP/2 pseudo-headers (RFC 9113 §8.3): `:authority` is the Host; the others are read by node.
      // With both `:authority` and `host`, the count below refuses the request (§8.3.1 wants them equal).
      if (name === ':authority') {
        hosts++;
        host = value;
      }
      continue;
    }
    if (name === 'content-length') {
      cl++;
      // RFC 9112 §6.3: a single, all-digit value, else the message framing is ambiguous.
      if (!/^[0-9]{1,15}$/.test(value)) return { reason: 'bad_content_length' };
    } else if (name === 'transfer-encoding') {
      te++;
      // RFC 9112 §6.1: the only coding a request may carry to us is exactly "chunked".
      if (value.toLowerCase() !== 'chunked') return { reason: 'bad_transfer_encoding' };
    } else if (name === 'host') {
      hosts++;
      host = value;
    } else if (name === 'connection') {
      connection = connection ? `${connection},${value}` : value;
    }
    // RFC 9110 §5.3 joins repeated fields with ", "; Cookie pairs are joined with "; " (RFC 6265 §5.4).
    if (all[name] === undefined) all[name] = value;
    else all[name] = `${all[name]}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  if (cl > 1) return { reason: 'duplicate_content_length' };
  if (te > 1) return { reason: 'duplicate_transfer_encoding' };
  // RFC 9112 §6.3 item 3: a request with both is a smuggling attempt; refuse rather than guess.
  if (cl > 0 && te > 0) return { reason: 'content_length_and_transfer_encoding' };
  // RFC 9112 §3.2: exactly one Host field.
  if (hosts === 0) return { reason: 'host_missing' };
  if (hosts > 1) return { reason: 'host_repeated' };
  const lowerHost = host.toLowerCase();
  if (!HOST.test(lowerHost)) return { reason: 'host_malformed' };
  const port = lowerHost.lastIndexOf(':');
  // A trailing dot names the same DNS host (RFC 1034 §3.1): one spelling, so host-bound routes cannot be dodged.
  const bare = (port > lowerHost.lastIndexOf(']') ? lowerHost.slice(0, port) : lowerHost).replace(/\.$/, '');

  // RFC 9110 §7.6.1: fields named in Connection are hop-by-hop too, whatever they are called.
  const named = connectionOptions(connection);
  const close = named.has('close');
  const forward = fieldMap();
  for (const name in all) {
    if (HOP_BY_HOP_HEADERS.has(name) || named.has(name) || REWRITTEN.has(name)) continue;
    if (name.startsWith(IDENTITY_HEADER_PREFIX)) continue;
    forward[name] = all[name] as string;
  }
  return { host: bare, forward, all, close };
}
