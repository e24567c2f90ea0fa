/**
 * Assembles a gateway: runtime (verifiers, engine, limiters, metrics), the public listener, and the route
 * table with atomic reload. `reload` compiles the new document completely before swapping the reference,
 * so in-flight requests finish on the table they started with, new ones see the new table, and a bad
 * document changes nothing. Services dropped by a reload are closed once their requests have drained.
 */
import type { FSWatcher } from 'node:fs';
import type { Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Redis } from 'ioredis';
import type { Dispatcher } from 'undici';
import { DEFAULT_PATH_OPTIONS, type PathOptions } from '../core/http/canonical-path.ts';
import { type AuditSink, type BulwarkError, type Clock, type Logger, systemClock } from '../core/index.ts';
import { PolicyEngine, type SourceFile } from '../core/policy-engine/index.ts';
import { type IssuerConfig, JwtAuthenticator } from './auth/jwt-authenticator.ts';
import { RevocationList } from './auth/revocation-list.ts';
import { gatewayError } from './errors.ts';
import { createHandler } from './handler.ts';
import { type LimitCounters, LocalCounters } from './limits/counters.ts';
import { createLimiterFactory } from './limits/limiter-factory.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { securityHeaders } from './response.ts';
import {
  checkRouteDocument,
  parseRouteFile,
  type RouteDocument,
  type RouteFileIssue,
} from './routes/route-file.ts';
import { blockList, type LimiterFactory, RouteTable } from './routes/route-table.ts';
import { watchRouteFile } from './routes/route-watcher.ts';
import type { GatewayRuntime } from './runtime.ts';
import { createListener, type ListenerLimits, type ListenerTls, type PublicServer } from './server.ts';
import { rehearseAuthorize } from './stages/authorize.ts';
import { Ed25519AssertionSigner } from './upstream/identity-assertion.ts';
import type { UpstreamIdentity } from './upstream/upstream-service.ts';

export interface GatewayOptions {
  routes: RouteDocument;
  /** The gateway's own SVID (under `bulwark up`), for upstreams named by SPIFFE ID. */
  upstreamIdentity?: UpstreamIdentity;
  issuers: IssuerConfig[];
  logger: Logger;
  audit: AuditSink;
  clock?: Clock;
  random?: () => number;
  /** Cedar policy files (the bundle `policy` would distribute); or a ready engine. */
  policies?: SourceFile[];
  engine?: PolicyEngine;
  redis?: Redis;
  /** Key prefix of rate-limit counters (gateways sharing limits use the same one). */
  rateLimitPrefix?: string;
  /** Where in-memory limits count; by default this gateway's own (see limits/counters.ts). */
  counters?: LimitCounters;
  /** Keys one in-memory rule keeps at most (default 200,000). */
  rateLimitMaxKeys?: number;
  trustedProxies?: string[];
  allowedHosts?: string[];
  pathOptions?: Partial<PathOptions>;
  tls?: ListenerTls;
  /** Without `tls`: HTTP/2 by prior knowledge (h2c) beside HTTP/1.1 on the public port. */
  h2c?: boolean;
  limits?: Partial<ListenerLimits> & { maxHeaders?: number; maxBodyBytes?: number };
  /** Dispatcher for JWKS fetches (carries the CA that signs issuers' certificates). */
  jwksDispatcher?: Dispatcher;
  jwksCooldownMs?: number;
  identityKeyPem?: string;
  assertionTtlSeconds?: number;
  auditAllowSampleRate?: number;
  hstsMaxAgeSeconds?: number;
  timeStages?: boolean;
}

export const DEFAULT_LIMITS: ListenerLimits & { maxHeaders: number; maxBodyBytes: number } = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaders: 100,
  maxBodyBytes: 1024 * 1024,
});

export class Gateway {
  readonly runtime: GatewayRuntime;
  readonly server: PublicServer;
  readonly #makeLimiter: LimiterFactory;
  #security: Readonly<Record<string, string>> = {};
  #upstreamIdentity: UpstreamIdentity | undefined;
  #watcher: FSWatcher | undefined;
  readonly #sessions = new Set<Http2Session>();
  /** Every accepted connection: what is still open when the grace period ends is cut (see close). */
  readonly #sockets = new Set<Socket>();
  readonly #applyListeners = new Set<(document: RouteDocument) => void>();

  constructor(options: GatewayOptions) {
    const clock = options.clock ?? systemClock;
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const revocations = new RevocationList(clock);
    const engine = options.engine ?? new PolicyEngine();
    if (options.policies) engine.load({ policies: options.policies });
    const counters = options.counters ?? new LocalCounters(clock, options.rateLimitMaxKeys);
    this.#makeLimiter = createLimiterFactory(
      options.redis,
      options.rateLimitPrefix ?? 'bulwark:gw',
      counters,
      clock,
      options.rateLimitMaxKeys,
    );
    const metrics = new GatewayMetrics();
    this.runtime = {
      table: undefined as unknown as RouteTable,
      clock,
      random: options.random ?? Math.random,
      logger: options.logger,
      audit: options.audit,
      counters,
      metrics,
      revocations,
      authenticator: new JwtAuthenticator({
        issuers: options.issuers,
        clock,
        revocations,
        ...(options.jwksDispatcher ? { dispatcher: options.jwksDispatcher } : {}),
        ...(options.jwksCooldownMs !== undefined ? { jwksCooldownMs: options.jwksCooldownMs } : {}),
      }),
      engine,
      decisions: new Map(),
      signer: new Ed25519AssertionSigner(clock, {
        ...(options.identityKeyPem ? { privateKeyPem: options.identityKeyPem } : {}),
        ...(options.assertionTtlSeconds ? { ttlSeconds: options.assertionTtlSeconds } : {}),
      }),
      pathOptions: { ...DEFAULT_PATH_OPTIONS, ...options.pathOptions },
      trustedProxies: options.trustedProxies?.length
        ? blockList(options.trustedProxies, 'trustedProxies')
        : undefined,
      allowedHosts: options.allowedHosts?.length
        ? new Set(options.allowedHosts.map((h) => h.toLowerCase()))
        : undefined,
      maxHeaders: limits.maxHeaders,
      maxBodyBytes: limits.maxBodyBytes,
      tls: options.tls !== undefined,
      hstsMaxAgeSeconds: options.hstsMaxAgeSeconds ?? 63_072_000,
      auditAllowSampleRate: options.auditAllowSampleRate ?? 0.01,
      timeStages: options.timeStages ?? false,
      stageTotals: new Map(),
    };
    this.#security = securityHeaders(this.runtime);
    this.#upstreamIdentity = options.upstreamIdentity;
    this.runtime.table = new RouteTable(
      options.routes,
      clock,
      this.#makeLimiter,
      undefined,
      this.#security,
      this.#upstreamIdentity,
    );
    this.runtime.table.startHealthChecks();
    rehearseAuthorize(this.runtime);
    this.server = createListener(this.runtime, createHandler(this.runtime), limits, options.tls, options.h2c);
    this.server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.server.on('session', (session: Http2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
    });
  }

  #closeAll(): void {
    this.server.closeAllConnections?.();
    for (const session of this.#sessions) session.destroy();
    // An HTTP/2 session closed gracefully leaves its socket to the client, which may never close it; a
    // connection still telling which protocol it speaks (h2c) belongs to no server yet.
    for (const socket of this.#sockets) socket.destroy();
  }

  /**
   * Listens on `port` (0 picks one); resolves to the base URL. `reusePort` lets several gateway processes
   * listen on one port, the kernel spreading connections among them (SO_REUSEPORT, same user only).
   */
  async listen(port: number, host = '127.0.0.1', options: { reusePort?: boolean } = {}): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, reusePort: options.reusePort ?? false }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.runtime.tls ? 'https' : 'http'}://${h}:${address.port}`;
  }

  /**
   * Compiles and applies a new route document; throws `gateway_route_file_invalid` (with the issues) and
   * keeps the current table when the document is not valid. `counted: false` leaves the reload metric
   * alone (a worker applying what the component already counted).
   */
  apply(document: unknown, options: { counted?: boolean } = {}): RouteTable {
    const checked = checkRouteDocument(document);
    if (!checked.ok) throw invalid(checked.issues);
    const previous = this.runtime.table;
    const next = new RouteTable(
      checked.document,
      this.runtime.clock,
      this.#makeLimiter,
      previous,
      this.#security,
      this.#upstreamIdentity,
    );
    next.startHealthChecks();
    this.runtime.table = next;
    for (const service of next.retiredFrom(previous)) void service.retire();
    if (options.counted !== false) this.runtime.metrics.reload('applied');
    for (const listener of this.#applyListeners) listener(checked.document);
    return next;
  }

  /** Called with each route document applied (admin sync or file reload); returns a function that stops the calls. */
  onApply(listener: (document: RouteDocument) => void): () => void {
    this.#applyListeners.add(listener);
    return () => this.#applyListeners.delete(listener);
  }

  /** Parses YAML text and applies it (see {@link apply}). */
  applyText(text: string): RouteTable {
    const parsed = parseRouteFile(text);
    if (!parsed.ok) throw invalid(parsed.issues);
    return this.apply(parsed.document);
  }

  /** Reloads the route table whenever `path` changes; a bad version is logged and ignored. */
  watch(path: string): void {
    this.#watcher = watchRouteFile(path, (text) => {
      try {
        this.applyText(text);
        this.runtime.logger.info({ path }, 'route file reloaded');
        return true;
      } catch (err) {
        this.runtime.metrics.reload('rejected');
        const e = err as BulwarkError;
        this.runtime.logger.error(
          { path, code: e.code, issues: e.details?.['issues'] },
          'route file rejected; keeping the current routes',
        );
        return false;
      }
    });
  }

  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes pools. */
  async close(graceMs = 5_000): Promise<void> {
    this.#watcher?.close();
    const timer = setTimeout(() => this.#closeAll(), graceMs);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections?.();
      for (const session of this.#sessions) session.close();
    });
    clearTimeout(timer);
    await Promise.all([...this.runtime.table.services.values()].map((s) => s.close()));
  }
}

function invalid(issues: RouteFileIssue[]): BulwarkError {
  return gatewayError('gateway_route_file_invalid', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
    details: { issues },
  });
}
