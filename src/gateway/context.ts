/**
 * The typed request context every stage reads and extends. The canonical request is computed once by the
 * `canonicalize` stage and is read-only afterwards: checks and the upstream call see the same values.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledRoute } from './routes/route-table.ts';
import type { GatewayRuntime } from './runtime.ts';

/** The request as every later stage sees it. */
export interface CanonicalRequest {
  readonly method: string;
  /** Decoded, dot-segment-free, slash-merged path (RFC 3986 §5.2.4). */
  readonly path: string;
  /** `path` re-encoded for the wire; what the upstream receives. */
  readonly upstreamPath: string;
  /** Raw query without `?` ('' when none), character-checked. */
  readonly query: string;
  /** Lower-cased Host without port. */
  readonly host: string;
  /** Lower-cased names; hop-by-hop, Connection-named and x-bulwark-* removed. */
  readonly forwardHeaders: Readonly<Record<string, string>>;
  /** Every received header (lower-cased names), for checks that read a credential or Origin. */
  readonly headers: Readonly<Record<string, string>>;
  /** TCP peer address. */
  readonly peerIp: string;
}

/** Who the caller is, once authenticated. */
export interface Principal {
  kind: 'user' | 'service-account' | 'api-key';
  subject: string;
  roles: readonly string[];
  tenant: string;
  clientId?: string;
  issuer?: string;
  jti?: string;
  /** The token's `gid` (identity's grant digest), so a revoked grant covers all its tokens. */
  grant?: string;
  /** Token expiry in ms since the epoch (api keys: none). */
  expiresAt?: number;
  amr: readonly string[];
  /** Metrics label: the client id or the consumer name. */
  consumer: string;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly runtime: GatewayRuntime;
  readonly id: string;
  readonly startedAt: number;
  request: CanonicalRequest;
  route: CompiledRoute | undefined;
  params: Record<string, string>;
  /** Client address after trusted-proxy X-Forwarded-For processing. */
  clientIp: string;
  principal: Principal | undefined;
  body: Buffer | undefined;
  /** Headers stages add to the response (RateLimit-*, CORS, Deprecation). */
  responseHeaders: Record<string, string>;
  /** Release callbacks run when the response ends (concurrency slots); add them with {@link whenFinished}. */
  releases: (() => void)[];
  /** The response has ended (or the client left) and `releases` have run. */
  finished: boolean;
}

/**
 * Runs `release` when the response ends, or at once when it already has: a slot granted after the client
 * left (an answer from the component's counters arriving late) is given straight back.
 */
export function whenFinished(ctx: RequestContext, release: () => void): void {
  if (ctx.finished) release();
  else ctx.releases.push(release);
}
