/**
 * The request target a mesh server decides on, computed once per request: the service-to-service policy
 * sees its canonical path and the handler (the SDK user's code, or the sidecar forwarding to the app) gets
 * exactly that target, so `/%61dmin` or `/x/../admin` can no longer be checked as one path and served as
 * `/admin` by the application's router. The canonicalisation itself is the gateway's (a pure module with
 * no imports), so the edge and the mesh agree byte for byte on what a path is.
 */
import { canonicalTarget, DEFAULT_PATH_OPTIONS, type PathRejection } from '../../core/http/canonical-path.ts';

export interface DecidedTarget {
  /** The canonical, decoded path (RFC 3986 §6.2.2): what the policy's `context.path` was. */
  path: string;
  /** The origin-form target to serve or forward: `path` re-encoded for the wire, query kept as sent. */
  url: string;
}

export type MeshTarget = { ok: true; target: DecidedTarget } | { ok: false; reason: PathRejection };

/**
 * Decodes percent-encoded unreserved characters (RFC 3986 §2.3), removes dot segments (§5.2.4) and merges
 * empty segments; refuses encoded `/` `\` NUL, double encoding, `;` path parameters, control characters
 * and anything not in origin-form (RFC 9112 §3.2.1).
 *
 * @example
 * meshTarget('/x/../%61dmin?q=1'); // { ok: true, target: { path: '/admin', url: '/admin?q=1' } }
 */
export function meshTarget(raw: string | undefined): MeshTarget {
  const t = canonicalTarget(raw ?? '', DEFAULT_PATH_OPTIONS);
  if (!t.ok) return t;
  return {
    ok: true,
    target: { path: t.path, url: t.query ? `${t.upstreamPath}?${t.query}` : t.upstreamPath },
  };
}
