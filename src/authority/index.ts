/**
 * `authority`: the mesh's certificate authority. It issues X.509-SVIDs to workloads that attest with a
 * one-time join token, renews them over mTLS, publishes the trust bundle, rotates the CA through
 * overlapping bundles, revokes workloads and keeps the service registry.
 */
import { join } from 'node:path';
import type { Server } from 'node:tls';
import type { ComponentContext, ComponentDefinition, ComponentInstance } from '../core/index.ts';
import { adminRoutes } from './api/admin-routes.ts';
import { CallerResolver, ensureAdminToken } from './api/caller.ts';
import type { AuthorityContext } from './api/context.ts';
import { discoveryRoutes } from './api/discovery-routes.ts';
import { trustClientCertificates } from './api/listener-trust.ts';
import { svidRoutes } from './api/svid-routes.ts';
import { CertificateAuthority } from './ca/certificate-authority.ts';
import { KeySeal } from './ca/key-seal.ts';
import { AUTHORITY_CONFIG, authorityConfig } from './config.ts';
import { AUTHORITY_ERRORS } from './errors.ts';
import { createAuthorityMetrics } from './metrics.ts';
import { Instances } from './store/instances.ts';
import { JoinTokens } from './store/join-tokens.ts';
import { AUTHORITY_MIGRATIONS } from './store/migrations.ts';
import { Revocations } from './store/revocations.ts';

export { CertificateAuthority, type RotationPhase } from './ca/certificate-authority.ts';
export { rootsFromSpiffeBundle, type SpiffeBundle, toSpiffeBundle } from './ca/spiffe-bundle.ts';
export { AUTHORITY_CONFIG, type AuthorityConfig } from './config.ts';
export { AUTHORITY_ERRORS, type AuthorityErrorCode, authorityError } from './errors.ts';

/** Where the CLI finds the admin token on this machine. */
export const adminTokenPath = (home: string): string => join(home, 'authority', 'admin.token');

export const authorityComponent: ComponentDefinition = {
  name: 'authority',
  description: 'Mesh CA: SPIFFE X.509-SVIDs, join tokens, trust bundle, rotation, revocation, discovery',
  defaultPort: 7305,
  configProperties: AUTHORITY_CONFIG,
  errors: AUTHORITY_ERRORS,
  create: createAuthority,
};

async function createAuthority(context: ComponentContext): Promise<ComponentInstance> {
  const config = authorityConfig(context.section);
  const home = context.config.home;
  const store = context.openStore();
  try {
    await store.migrate(AUTHORITY_MIGRATIONS);
    const seal = KeySeal.open(config.keyPassphrase, join(home, 'authority', 'seal.key'));
    const ca = new CertificateAuthority({
      store,
      seal,
      clock: context.clock,
      home,
      trustDomain: config.trustDomain,
      svidTtlMs: config.svidTtlSeconds * 1000,
      intermediateTtlMs: config.intermediateTtlDays * 86_400_000,
    });
    await ca.init();
    const revocations = new Revocations(store, context.clock);
    let server: Server | undefined;
    const ctx: AuthorityContext = {
      config,
      ca,
      joinTokens: new JoinTokens(store, context.clock),
      revocations,
      instances: new Instances(store, context.clock, config.instanceTtlSeconds * 1000),
      callers: new CallerResolver({
        adminToken: ensureAdminToken(adminTokenPath(home)),
        trustDomain: config.trustDomain,
        adminSpiffeIds: config.adminSpiffeIds,
        revocations,
      }),
      metrics: createAuthorityMetrics(),
      audit: context.audit,
      clock: context.clock,
      logger: context.logger,
      onBundleChange: async () => {
        if (server)
          await trustClientCertificates(
            server,
            context.config,
            (await ca.trustedRoots()).map((r) => r.pem),
          );
      },
    };
    return {
      routes: async (app) => {
        if (context.config.server.tls.enabled) {
          server = app.server as unknown as Server;
          await ctx.onBundleChange();
        }
        await app.register(svidRoutes(ctx));
        await app.register(adminRoutes(ctx));
        await app.register(discoveryRoutes(ctx));
      },
      readiness: { storage: async () => (await store.query('SELECT 1 AS ok')).length === 1 },
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
