/**
 * The canonical form of a request target (RFC 3986), computed once: every check and the upstream call use
 * it, so a check can never see one path and the upstream another (the classic "/public/../admin" and
 * "%2e%2e" bypasses). Trusts nothing: the input is the raw request-target bytes from the client.
 * Shared by the gateway, the sidecar and the mesh SDK so that the edge and every hop agree on what a path is.
 */

export interface PathOptions {
  /** Refuse `%2F` (an encoded slash that some upstreams decode into a separator). */
  rejectEncodedSlash: boolean;
  /** Refuse `%5C` (an encoded backslash that Windows and some frameworks treat as a separator). */
  rejectEncodedBackslash: boolean;
  /** Refuse `%00` (C string truncation in upstreams). */
  rejectNul: boolean;
  /** Refuse `%25XX` (double encoding: a second decoder upstream would see a different path). */
  rejectDoubleEncoding: boolean;
  /** Refuse `;` path parameters (`/admin;x` is `/admin` to Tomcat/Spring). */
  rejectPathParameters: boolean;
}

export const DEFAULT_PATH_OPTIONS: PathOptions = Object.freeze({
  rejectEncodedSlash: true,
  rejectEncodedBackslash: true,
  rejectNul: true,
  rejectDoubleEncoding: true,
  rejectPathParameters: true,
});

export type PathRejection =
  | 'not_origin_form'
  | 'fragment'
  | 'invalid_character'
  | 'bad_percent_encoding'
  | 'encoded_slash'
  | 'encoded_backslash'
  | 'encoded_nul'
  | 'double_encoding'
  | 'path_parameter'
  | 'invalid_utf8'
  | 'control_character';

export type CanonicalTarget =
  | { ok: true; path: string; upstreamPath: string; query: string }
  | { ok: false; reason: PathRejection };

// RFC 3986 §3.3: path = *( "/" segment ), segment = *pchar, pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
const RAW_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
// RFC 3986 §3.4: query = *( pchar / "/" / "?" )
const RAW_QUERY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
// A path that needs no work: no percent, no dot segment, no empty segment, no path parameter.
const ALREADY_CANONICAL = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@]+)*\/?$/;
const HEX = /^[0-9A-Fa-f]{2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits and canonicalises a raw request-target.
 *
 * @example
 * canonicalTarget('/public/%2e%2e/admin?x=1', DEFAULT_PATH_OPTIONS); // { ok: true, path: '/admin', ... }
 */
export function canonicalTarget(raw: string, options: PathOptions): CanonicalTarget {
  // RFC 9112 §3.2.1: origin-form only; absolute-form is for forward proxies, asterisk-form for OPTIONS *.
  if (raw.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'not_origin_form' };
  // RFC 3986 §3.5: a fragment is never sent to a server; one arriving is an attack on a parser.
  if (raw.includes('#')) return { ok: false, reason: 'fragment' };
  const q = raw.indexOf('?');
  const rawPath = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? '' : raw.slice(q + 1);
  if (query !== '' && (!RAW_QUERY.test(query) || !wellFormedPercents(query))) {
    return { ok: false, reason: 'invalid_character' };
  }
  // The query goes upstream as it came, and schemas check it decoded: bytes that are not UTF-8 (`%c0%af`)
  // would be U+FFFD to the check and anything at all to a lenient decoder upstream.
  if (query.includes('%') && !decodesAsUtf8(query)) return { ok: false, reason: 'invalid_utf8' };
  if (ALREADY_CANONICAL.test(rawPath)) return { ok: true, path: rawPath, upstreamPath: rawPath, query };
  if (!RAW_PATH.test(rawPath)) return { ok: false, reason: 'invalid_character' };
  const decoded = decodeOnce(rawPath, options);
  if (typeof decoded !== 'string') return decoded;
  if (options.rejectPathParameters && decoded.includes(';')) return { ok: false, reason: 'path_parameter' };
  // RFC 3986 §5.2.4 after merging empty segments (`//admin` is `/admin` to most upstreams).
  const path = removeDotSegments(decoded.replace(/\/{2,}/g, '/'));
  return { ok: true, path, upstreamPath: encodePath(path), query };
}

/** One decoding pass (RFC 3986 §2.1); anything a second pass would change is refused, not decoded twice. */
function decodeOnce(rawPath: string, options: PathOptions): string | { ok: false; reason: PathRejection } {
  if (!rawPath.includes('%')) return rawPath;
  const bytes: number[] = [];
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c !== 0x25) {
      bytes.push(c);
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { ok: false, reason: 'bad_percent_encoding' };
    const b = Number.parseInt(hex, 16);
    if (b === 0x2f && options.rejectEncodedSlash) return { ok: false, reason: 'encoded_slash' };
    if (b === 0x5c && options.rejectEncodedBackslash) return { ok: false, reason: 'encoded_backslash' };
    if (b === 0x00 && options.rejectNul) return { ok: false, reason: 'encoded_nul' };
    bytes.push(b);
    i += 2;
  }
  let text: string;
  try {
    text = UTF8.decode(Uint8Array.from(bytes));
  } catch {
    return { ok: false, reason: 'invalid_utf8' };
  }
  // A second decoder upstream would turn what is left into something else ("%252e" -> "%2e" -> ".").
  if (options.rejectDoubleEncoding && /%[0-9A-Fa-f]{2}/.test(text))
    return { ok: false, reason: 'double_encoding' };
  // Control characters decoded from %0A, %0D, %7F... would split headers or logs downstream; so would the
  // C1 controls (%C2%85 is NEL, a line break to some loggers and XML) and U+2028/U+2029 (line breaks to
  // JavaScript and JSON-in-HTML).
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (
      (c < 0x20 && !(c === 0 && !options.rejectNul)) ||
      (c >= 0x7f && c <= 0x9f) ||
      c === 0x2028 ||
      c === 0x2029
    ) {
      return { ok: false, reason: 'control_character' };
    }
  }
  return text;
}

/** Whether the percent-encoded bytes of a (well-formed) query are UTF-8. */
function decodesAsUtf8(query: string): boolean {
  try {
    decodeURIComponent(query);
    return true;
  } catch {
    return false;
  }
}

function wellFormedPercents(s: string): boolean {
  for (let i = s.indexOf('%'); i !== -1; i = s.indexOf('%', i + 1)) {
    if (!HEX.test(s.slice(i + 1, i + 3))) return false;
  }
  return true;
}

/** RFC 3986 §5.2.4 remove_dot_segments, on a path that starts with "/". */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return `/${out.join('/')}`;
}

/** Re-encodes a canonical path for the wire: the upstream decodes it back to exactly `path`. */
export function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%(3A|40|24|26|2B|2C|3D)/gi, decodeURIComponent))
    .join('/');
}
