/**
 * SPIFFE IDs as the SPIFFE ID specification (SPIFFE-ID.md) defines them: `spiffe://<trust domain>/<path>`.
 * Parsing is strict and total: anything the spec forbids (upper-case trust domain, port, user info, query,
 * fragment, percent-encoding, empty, `.` or `..` segments, trailing slash) is refused rather than
 * normalised, because two spellings of one identity would let a policy be bypassed.
 */
import { mtlsError } from './errors.ts';

/** SPIFFE-ID.md §2: "spiffe" scheme, lower case. */
const SCHEME = 'spiffe://';
/** SPIFFE-ID.md §2.3: URIs of at most 2048 bytes. */
const MAX_SPIFFE_ID_BYTES = 2048;
/** SPIFFE-ID.md §2.1: trust domain names of at most 255 characters. */
const MAX_TRUST_DOMAIN_LENGTH = 255;
/** SPIFFE-ID.md §2.1: lower-case letters, digits, dots, dashes and underscores only. */
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
/** SPIFFE-ID.md §2.2: path segment characters. */
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  readonly trustDomain: string;
  /** The path with its leading slash (`/service/orders`), or `''` for the trust domain itself. */
  readonly path: string;
  /** The canonical text, `spiffe://trust-domain/path`. */
  readonly uri: string;
}

/**
 * Parses and validates a SPIFFE ID; throws `mesh_spiffe_id_invalid` naming the broken rule.
 *
 * @example
 * parseSpiffeId('spiffe://example.org/service/orders').path; // '/service/orders'
 */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (why: string) =>
    mtlsError('mesh_spiffe_id_invalid', `${JSON.stringify(text.slice(0, 80))} is not a SPIFFE ID: ${why}`);
  if (typeof text !== 'string') throw new TypeError('a SPIFFE ID is a string');
  if (Buffer.byteLength(text) > MAX_SPIFFE_ID_BYTES) throw fail('longer than 2048 bytes');
  if (!text.startsWith(SCHEME)) throw fail('the scheme must be spiffe:// in lower case');
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  validateTrustDomain(trustDomain, fail);
  if (path !== '') {
    // SPIFFE-ID.md §2.2: no empty, "." or ".." segment, hence no trailing slash and no "//".
    for (const segment of path.slice(1).split('/')) {
      if (segment === '') throw fail('the path has an empty segment or a trailing slash');
      if (segment === '.' || segment === '..') throw fail('the path has a "." or ".." segment');
      if (!SEGMENT_CHARS.test(segment)) throw fail('path segments use only A-Z a-z 0-9 . - _');
    }
  }
  return Object.freeze({ trustDomain, path, uri: text });
}

/** Whether `text` is a valid SPIFFE ID (never throws). */
export function isSpiffeId(text: unknown): text is string {
  if (typeof text !== 'string') return false;
  try {
    parseSpiffeId(text);
    return true;
  } catch {
    return false;
  }
}

/** Validates a trust domain name (SPIFFE-ID.md §2.1); throws `mesh_spiffe_id_invalid`. */
export function parseTrustDomain(name: string): string {
  validateTrustDomain(name, (why) =>
    mtlsError('mesh_spiffe_id_invalid', `${JSON.stringify(name.slice(0, 80))} is not a trust domain: ${why}`),
  );
  return name;
}

function validateTrustDomain(name: string, fail: (why: string) => Error): void {
  if (name === '') throw fail('the trust domain is empty');
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) throw fail('the trust domain is longer than 255 characters');
  // Excludes ports (":"), user info ("@"), queries ("?"), fragments ("#") and percent-encoding ("%").
  if (!TRUST_DOMAIN_CHARS.test(name)) throw fail('the trust domain uses only a-z 0-9 . - _');
}

/**
 * The SPIFFE ID Bulwark gives a service: `spiffe://<trust domain>/service/<name>`.
 *
 * @example
 * serviceSpiffeId('bulwark.local', 'orders'); // 'spiffe://bulwark.local/service/orders'
 */
export function serviceSpiffeId(trustDomain: string, service: string): string {
  return parseSpiffeId(`${SCHEME}${trustDomain}/service/${service}`).uri;
}

/** The service name of a Bulwark service SPIFFE ID, or undefined for any other shape. */
export function serviceNameOf(id: SpiffeId): string | undefined {
  const match = /^\/service\/([A-Za-z0-9._-]+)$/.exec(id.path);
  return match?.[1];
}

/**
 * Whether an allow list names a caller: an entry matches exactly, or as a prefix when it ends in `*`
 * (`spiffe://bulwark.local/service/*`). The lists of who may read, manage or call a component.
 */
export function listedCaller(list: readonly string[], caller: string): boolean {
  return list.some((entry) =>
    entry.endsWith('*') ? caller.startsWith(entry.slice(0, -1)) : entry === caller,
  );
}
