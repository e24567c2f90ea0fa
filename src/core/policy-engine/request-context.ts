/** Builds the `RequestContext` of Bulwark's schema from what the gateway or sidecar knows of a request. */
import type { Context } from '@cedar-policy/cedar-wasm/nodejs';

export interface HttpRequestFacts {
  method: string;
  /**
   * The canonical path, without the query string: percent-decoded once, dot segments removed, empty
   * segments merged (the gateway's `canonicalTarget`, the mesh's `meshTarget`). It must be the path the
   * request is then served with: a policy that matches `/admin*` is only as good as that promise.
   */
  path: string;
  sourceIp: string;
  /** The token's `amr` claim (RFC 8176); empty when the caller has none. */
  amr?: readonly string[];
  /** When the request arrived, in ms since the epoch (from the injected clock). */
  at: number;
}

// An absolute path with no empty segment (but a trailing "/") and no "." or ".." segment.
const CANONICAL_SHAPE = /^(?=\/)(?:\/(?!\.\.?(?:\/|$))[^/]+)*\/?$/;

/**
 * Whether `path` has the shape every canonical path has (RFC 3986 §5.2.4: no dot segments; no `//`).
 * A raw request-target (`/x/../admin`, `//admin`, `/%2e%2e/admin`) fails it; a canonical path never does.
 */
export function isCanonicalPath(path: string): boolean {
  return CANONICAL_SHAPE.test(path);
}

/**
 * Throws a TypeError when `facts.path` is not canonical: a caller handing Cedar the raw target would let
 * `/x/../admin` past a rule on `/admin`, so that mistake must fail loudly, never decide.
 *
 * @example
 * const context = requestContext({ method: 'GET', path: '/orders', sourceIp: '10.0.0.7', amr: ['pwd'], at: clock.now() });
 */
export function requestContext(facts: HttpRequestFacts): Context {
  if (!isCanonicalPath(facts.path)) {
    throw new TypeError('requestContext needs the canonical request path, not the raw request-target');
  }
  const at = new Date(facts.at);
  return {
    method: facts.method.toUpperCase(),
    path: facts.path,
    // The schema types sourceIp as ipaddr: Cedar parses the string with the schema's guidance.
    sourceIp: facts.sourceIp,
    amr: [...(facts.amr ?? [])],
    hour: at.getUTCHours(),
    weekday: at.getUTCDay(),
  };
}
