/**
 * The gateway component: the public listener (hot path on node:https) built from the configuration and
 * the route file, and the admin API on the component's own (fastify) listener.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import {
  type ComponentContext,
  type ComponentDefinition,
  type ComponentInstance,
  localServerCredentials,
} from '../core/index.ts';
import {
  BundleClient,
  type BundleSource,
  PolicyEngine,
  type SourceFile,
} from '../core/policy-engine/index.ts';
import { adminRoutes } from './admin/admin-routes.ts';
import { type FeedCredentials, RevocationFeed } from './auth/revocation-feed.ts';
import type { IntrospectionConfig } from './auth/token-introspection.ts';
import { GATEWAY_CONFIG, type GatewayConfig, gatewayConfig, type IntrospectionSettings } from './config.ts';
import { GATEWAY_ERRORS, gatewayError } from './errors.ts';
import type { Gateway } from './gateway.ts';
import { gatewayFromSettings } from './gateway-settings.ts';
import { LocalCounters } from './limits/counters.ts';
import { parseRouteFile, type RouteDocument } from './routes/route-file.ts';
import { rehearseAuthorize } from './stages/authorize.ts';
import type { GatewaySettings } from './workers/messages.ts';
import { WorkerPool } from './workers/worker-pool.ts';

const EMPTY_ROUTES: RouteDocument = { format_version: '1', services: [], routes: [] };

export const gatewayComponent: ComponentDefinition = {
  name: 'gateway',
  description:
    'The hardened entry point: canonical requests, JWT/API-key authentication, Cedar authorization, limits, validation, resilient upstreams.',
  // The admin API; the public listener is `publicPort` (8443).
  defaultPort: 7408,
  configProperties: GATEWAY_CONFIG,
  errors: GATEWAY_ERRORS,
  // Upstream services verify the gateway's identity assertions with this key set; it holds public keys only.
  publicPaths: ['/v1/gateway/jwks.json'],
  create: createGatewayComponent,
};

async function createGatewayComponent(ctx: ComponentContext): Promise<ComponentInstance> {
  const config = gatewayConfig(ctx.section);
  const home = ctx.config.home;
  const routesFile = config.routesFile ?? join(home, 'gateway', 'routes.yaml');
  let routes = EMPTY_ROUTES;
  if (existsSync(routesFile)) {
    const parsed = parseRouteFile(readFileSync(routesFile, 'utf8'));
    if (!parsed.ok) {
      throw gatewayError(
        'gateway_route_file_invalid',
        `${routesFile}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      );
    }
    routes = parsed.document;
  }
  const settings = await gatewaySettings(ctx, config);
  const serverTls = ctx.config.server.tls;
  const { jwksCa } = settings;
  const engine = new PolicyEngine();
  const policyFiles = readPolicyFiles(config.policyFiles);
  // The policy source in force, handed to worker processes as they start.
  let policy: BundleSource | undefined = policyFiles.length ? { policies: policyFiles } : undefined;
  if (policy) engine.load(policy);
  const workerCount = config.workers === 0 ? availableParallelism() : config.workers;
  let pool: WorkerPool | undefined;
  // Off the mesh, the policy and identity clients trust the local CA and the issuers' CAs given, else the
  // default roots (an empty `ca` list would trust nothing at all).
  const offMeshAgent = () => new Agent({ connect: jwksCa.length ? { ca: jwksCa } : {} });
  const bundleDispatcher = config.policyUrl && !ctx.mesh ? offMeshAgent() : undefined;
  const bundles = config.policyUrl
    ? new BundleClient({
        url: config.policyUrl,
        engine,
        // Under `bulwark up` policy serves only mTLS: the gateway calls it with its own SVID.
        dispatcher: ctx.mesh?.dispatcher('policy') ?? (bundleDispatcher as Agent),
        // A long poll: policy answers as soon as a new version exists, so a change is in force at once.
        waitSeconds: 30,
        onError: (e) => ctx.logger.warn({ err: e }, 'policy bundle poll failed'),
        onUpdate: (source) => {
          policy = source;
          pool?.broadcast({ type: 'bundle', source });
        },
      })
    : undefined;
  // In-memory limits count here for this process and every worker behind the port.
  const counters = new LocalCounters(ctx.clock, config.rateLimitMaxKeys);
  const { gateway, release: releaseParts } = gatewayFromSettings(settings, {
    routes,
    logger: ctx.logger,
    audit: ctx.audit,
    clock: ctx.clock,
    engine,
    counters,
    // On the mesh, the SVID calls mesh upstreams, and is the public certificate unless files are configured.
    ...(ctx.mesh ? { upstreamIdentity: ctx.mesh } : {}),
    ...(ctx.mesh && servesSvid(ctx)
      ? { svid: { credentials: ctx.mesh.credentials, minVersion: serverTls.minVersion } }
      : {}),
  });
  const feedConfig = config.revocationFeed;
  const feedDispatcher = feedConfig.url && !ctx.mesh ? offMeshAgent() : undefined;
  // By default the account identity makes for this alone (the revocation feed, nothing more), read at
  // each token request: identity, starting beside the gateway, may not have written it yet.
  const feedCredentials = feedConfig.credentialsFile ?? join(home, 'identity', 'revocation-reader.json');
  const feed = feedConfig.url
    ? new RevocationFeed({
        url: feedConfig.url,
        credentials: () => JSON.parse(readFileSync(feedCredentials, 'utf8')) as FeedCredentials,
        list: gateway.runtime.revocations,
        clock: ctx.clock,
        dispatcher: ctx.mesh?.dispatcher('identity') ?? (feedDispatcher as Agent),
        intervalMs: feedConfig.intervalSeconds * 1000,
        onError: (e) => {
          // Stale for many intervals: revoked tokens may be passing, which warrants more than a warning.
          const stale = feed !== undefined && feed.staleSeconds() > 10 * feedConfig.intervalSeconds;
          ctx.logger[stale ? 'error' : 'warn'](
            { err: { message: (e as Error).message }, staleSeconds: feed?.staleSeconds() },
            stale
              ? 'revocation feed unreachable: tokens revoked since are not refused here'
              : 'revocation feed poll failed',
          );
        },
      })
    : undefined;
  if (feed) gateway.runtime.metrics.watchRevocationFeed(() => feed.staleSeconds());
  const host = config.publicHost ?? ctx.config.server.host;
  const multi = workerCount > 1;
  const release = async () => {
    bundles?.stop();
    feed?.stop();
    await Promise.all([
      gateway.close(ctx.config.server.shutdownGraceMs),
      pool?.close(ctx.config.server.shutdownGraceMs),
    ]);
    await releaseParts();
    await bundleDispatcher?.close();
    await feedDispatcher?.close();
  };
  let url: string;
  try {
    url = await gateway.listen(config.publicPort, host, { reusePort: multi });
    if (multi) {
      // The port actually bound (a URL leaves out 443 and 80, and `publicPort` may be 0).
      const port = (gateway.server.address() as AddressInfo).port;
      // Wired before any worker starts and before anything can change: see worker-pool.ts, Ordering.
      pool = workerPool(workerCount - 1, gateway, {
        ctx,
        settings,
        counters,
        port,
        host,
        policy: () => policy,
      });
      await pool.start();
    }
  } catch (err) {
    await release();
    throw err;
  }
  // Changes begin only now: a bundle or a revocation finds every worker wired.
  // A bundle from policy arrives after the gateway is built: rehearse a decision once it is in force.
  void bundles?.start().then(() => rehearseAuthorize(gateway.runtime));
  feed?.start();
  gateway.watch(routesFile);
  ctx.logger.info({ url, routes: routes.routes.length, workers: workerCount }, 'gateway listening');
  const own = gateway.runtime.metrics.registry;
  // With workers, a scrape merges every process's counters (one gateway, however many processes).
  const scrape = async () => (pool ? pool.metrics(own) : own);
  return {
    routes: adminRoutes({
      gateway,
      routesFile,
      tokens: config.adminTokens,
      operators: config.adminOperators,
      viewers: config.adminViewers,
      metrics: scrape,
    }),
    readiness: { listener: () => gateway.server.listening },
    metrics: { metrics: async () => (await scrape()).metrics() },
    endpoints: () => ({ public: url }),
    close: release,
  };
}

/**
 * Whether the public listener serves the gateway's SVID: on the mesh with no certificate files configured
 * (it names 127.0.0.1 and localhost besides its SPIFFE ID, and follows renewals). Otherwise the
 * configured certificate, else one from the local CA, else plain HTTP.
 */
function servesSvid(ctx: ComponentContext): boolean {
  const { certFile, keyFile } = ctx.config.server.tls;
  return ctx.mesh !== undefined && !(certFile && keyFile);
}

/**
 * The gateway's settings from its configuration: the data every process behind the port shares. `tls` is
 * left out when the SVID serves as the public certificate (on the mesh, no certificate file configured).
 */
async function gatewaySettings(ctx: ComponentContext, config: GatewayConfig): Promise<GatewaySettings> {
  const home = ctx.config.home;
  const serverTls = ctx.config.server.tls;
  const localCa = serverTls.enabled
    ? readFileSync(serverTls.caFile ?? join(home, 'tls', 'ca.crt'), 'utf8')
    : undefined;
  const caFiles = new Set(config.issuers.map((i) => i.caFile).filter((f): f is string => f !== null));
  let fileTls: GatewaySettings['tls'];
  if (serverTls.enabled && !servesSvid(ctx)) {
    const pair =
      serverTls.certFile && serverTls.keyFile
        ? { cert: readFileSync(serverTls.certFile, 'utf8'), key: readFileSync(serverTls.keyFile, 'utf8') }
        : await localServerCredentials(home, 'gateway');
    fileTls = { cert: pair.cert, key: pair.key, minVersion: serverTls.minVersion };
  }
  return {
    issuers: config.issuers.map(({ caFile: _ca, introspection, ...issuer }) =>
      introspection ? { ...issuer, introspection: introspectionConfig(introspection) } : issuer,
    ),
    jwksCa: [...(localCa ? [localCa] : []), ...[...caFiles].map((f) => readFileSync(f, 'utf8'))],
    jwksCooldownMs: config.jwksCooldownSeconds * 1000,
    redisUrl: config.redisUrl,
    trustedProxies: config.trustedProxies,
    allowedHosts: config.allowedHosts,
    pathOptions: config.path,
    limits: config.limits,
    // One key for every process behind the port, so upstreams verify any of them with one JWKS.
    identityKeyPem: config.identityKeyFile
      ? readFileSync(config.identityKeyFile, 'utf8')
      : generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    assertionTtlSeconds: config.assertionTtlSeconds,
    auditAllowSampleRate: config.auditAllowSampleRate,
    hstsMaxAgeSeconds: config.hstsMaxAgeSeconds,
    h2c: config.h2c,
    rateLimitMaxKeys: config.rateLimitMaxKeys,
    ...(fileTls ? { tls: fileTls } : {}),
  };
}

/**
 * The worker processes beside the component's own gateway, not yet started: each will start from the
 * state of the moment and be handed every change the component makes or receives from then on.
 */
function workerPool(
  count: number,
  gateway: Gateway,
  o: {
    ctx: ComponentContext;
    settings: GatewaySettings;
    counters: LocalCounters;
    port: number;
    host: string;
    policy: () => BundleSource | undefined;
  },
): WorkerPool {
  const { ctx } = o;
  const mesh = ctx.mesh;
  const minVersion = ctx.config.server.tls.minVersion;
  const pool = new WorkerPool({
    count,
    logger: ctx.logger,
    audit: ctx.audit,
    counters: o.counters,
    init: () => ({
      type: 'init',
      settings: o.settings,
      routes: gateway.runtime.table.document,
      policy: o.policy(),
      revocations: gateway.runtime.revocations.snapshot(),
      ...(mesh
        ? {
            mesh: {
              material: mesh.credentials.material,
              trustDomain: mesh.trustDomain,
              minVersion,
              peerRevocations: mesh.revocations.snapshot(),
            },
          }
        : {}),
      port: o.port,
      host: o.host,
      log: {
        level: ctx.config.log.level,
        redactKeys: ctx.config.log.redactKeys,
        maskFields: ctx.config.log.maskFields,
      },
    }),
  });
  gateway.onApply((document) => pool.broadcast({ type: 'routes', document }));
  gateway.runtime.revocations.onRevoke((revocation) => pool.broadcast({ type: 'revoke', revocation }));
  mesh?.credentials.onUpdate((material) => pool.broadcast({ type: 'svid', material }));
  mesh?.revocations.onApply((feed) => pool.broadcast({ type: 'peer-revocations', feed }));
  return pool;
}

/** `.cedar` files, given directly or found (non-recursively) in the listed directories. */
function readPolicyFiles(paths: readonly string[]): SourceFile[] {
  const files: SourceFile[] = [];
  for (const path of paths) {
    const names = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((n) => n.endsWith('.cedar'))
          .sort()
          .map((n) => join(path, n))
      : [path];
    for (const file of names) files.push({ file, text: readFileSync(file, 'utf8') });
  }
  return files;
}

function introspectionConfig(s: IntrospectionSettings): IntrospectionConfig {
  return {
    endpoint: s.endpoint,
    clientId: s.clientId,
    clientSecret: readFileSync(s.clientSecretFile, 'utf8').trim(),
    ...(s.tokenPrefix !== null ? { tokenPrefix: s.tokenPrefix } : {}),
    cacheSeconds: s.cacheSeconds,
    negativeCacheSeconds: s.negativeCacheSeconds,
  };
}
