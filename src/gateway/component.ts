/**
 * The gateway component: the public listener (hot path on node:https) built from the configuration and
 * the route file, and the admin API on the component's own (fastify) listener.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import {
  type ComponentContext,
  type ComponentDefinition,
  type ComponentInstance,
  localServerCredentials,
} from '../core/index.ts';
import { BundleClient, PolicyEngine, type SourceFile } from '../core/policy-engine/index.ts';
import { adminRoutes } from './admin/admin-routes.ts';
import { type FeedCredentials, RevocationFeed } from './auth/revocation-feed.ts';
import type { IntrospectionConfig } from './auth/token-introspection.ts';
import { GATEWAY_CONFIG, gatewayConfig, type IntrospectionSettings } from './config.ts';
import { GATEWAY_ERRORS, gatewayError } from './errors.ts';
import { Gateway } from './gateway.ts';
import { parseRouteFile, type RouteDocument } from './routes/route-file.ts';
import { rehearseAuthorize } from './stages/authorize.ts';

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
  const serverTls = ctx.config.server.tls;
  const localCa = serverTls.enabled
    ? readFileSync(serverTls.caFile ?? join(home, 'tls', 'ca.crt'), 'utf8')
    : undefined;
  const caFiles = new Set(config.issuers.map((i) => i.caFile).filter((f): f is string => f !== null));
  const ca = [...(localCa ? [localCa] : []), ...[...caFiles].map((f) => readFileSync(f, 'utf8'))];
  const jwksDispatcher = new Agent({ connect: ca.length ? { ca } : {} });
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    : undefined;
  redis?.on('error', (err) => ctx.logger.warn({ err: { message: err.message } }, 'redis error'));
  const engine = new PolicyEngine();
  const policies = readPolicyFiles(config.policyFiles);
  if (policies.length) engine.load({ policies });
  const bundles = config.policyUrl
    ? new BundleClient({
        url: config.policyUrl,
        engine,
        // Under `bulwark up` policy serves only mTLS: the gateway calls it with its own SVID.
        dispatcher: ctx.mesh?.dispatcher('policy') ?? jwksDispatcher,
        // A long poll: policy answers as soon as a new version exists, so a change is in force at once.
        waitSeconds: 30,
        onError: (e) => ctx.logger.warn({ err: e }, 'policy bundle poll failed'),
      })
    : undefined;
  let tls: { cert: string; key: string; minVersion: 'TLSv1.2' | 'TLSv1.3' } | undefined;
  // The public certificate: the configured one, else on the mesh the gateway's own SVID (it names
  // 127.0.0.1 and localhost besides its SPIFFE ID, and follows renewals), else one from the local CA.
  const svid = ctx.mesh && !(serverTls.certFile && serverTls.keyFile) ? ctx.mesh.credentials : undefined;
  if (serverTls.enabled || svid) {
    const pair =
      serverTls.certFile && serverTls.keyFile
        ? { cert: readFileSync(serverTls.certFile, 'utf8'), key: readFileSync(serverTls.keyFile, 'utf8') }
        : svid
          ? { cert: svid.material.certChain, key: svid.material.key }
          : await localServerCredentials(home, 'gateway');
    tls = { cert: pair.cert, key: pair.key, minVersion: serverTls.minVersion };
  }
  const gateway = new Gateway({
    routes,
    ...(ctx.mesh ? { upstreamIdentity: ctx.mesh } : {}),
    issuers: config.issuers.map(({ caFile: _ca, introspection, ...issuer }) =>
      introspection ? { ...issuer, introspection: introspectionConfig(introspection) } : issuer,
    ),
    logger: ctx.logger,
    audit: ctx.audit,
    clock: ctx.clock,
    engine,
    ...(redis ? { redis } : {}),
    trustedProxies: config.trustedProxies,
    allowedHosts: config.allowedHosts,
    pathOptions: config.path,
    ...(tls ? { tls } : {}),
    limits: config.limits,
    jwksDispatcher,
    jwksCooldownMs: config.jwksCooldownSeconds * 1000,
    ...(config.identityKeyFile ? { identityKeyPem: readFileSync(config.identityKeyFile, 'utf8') } : {}),
    assertionTtlSeconds: config.assertionTtlSeconds,
    auditAllowSampleRate: config.auditAllowSampleRate,
    hstsMaxAgeSeconds: config.hstsMaxAgeSeconds,
  });
  // A bundle from policy arrives after the gateway is built: rehearse a decision once it is in force.
  void bundles?.start().then(() => rehearseAuthorize(gateway.runtime));
  const feedConfig = config.revocationFeed;
  const feed = feedConfig.url
    ? new RevocationFeed({
        url: feedConfig.url,
        credentials: JSON.parse(
          readFileSync(feedConfig.credentialsFile ?? join(home, 'identity', 'admin-client.json'), 'utf8'),
        ) as FeedCredentials,
        list: gateway.runtime.revocations,
        clock: ctx.clock,
        dispatcher: ctx.mesh?.dispatcher('identity') ?? jwksDispatcher,
        intervalMs: feedConfig.intervalSeconds * 1000,
        onError: (e) =>
          ctx.logger.warn({ err: { message: (e as Error).message } }, 'revocation feed poll failed'),
      })
    : undefined;
  feed?.start();
  const detachSvid = svid?.attach(gateway.server as unknown as TlsServer);
  const url = await gateway.listen(config.publicPort, config.publicHost ?? ctx.config.server.host);
  gateway.watch(routesFile);
  ctx.logger.info({ url, routes: routes.routes.length }, 'gateway listening');
  return {
    routes: adminRoutes({
      gateway,
      routesFile,
      tokens: config.adminTokens,
      operators: config.adminOperators,
      viewers: config.adminViewers,
    }),
    readiness: { listener: () => gateway.server.listening },
    metrics: gateway.runtime.metrics.registry,
    endpoints: () => ({ public: url }),
    async close() {
      detachSvid?.();
      bundles?.stop();
      feed?.stop();
      await gateway.close(ctx.config.server.shutdownGraceMs);
      redis?.disconnect();
      await jwksDispatcher.close();
    },
  };
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
