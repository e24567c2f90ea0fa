/**
 * `authority`: the mesh's certificate authority. It issues X.509-SVIDs to workloads that attest with a
 * one-time join token, renews them over mTLS, publishes the trust bundle, rotates the CA through
 * overlapping bundles, revokes workloads and keeps the service registry.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type ComponentContext,
  type ComponentDefinition,
  type ComponentInstance,
  serverHosts,
} from '../core/index.ts';
import { loadKeyProvider, type MasterKeySettings } from '../core/keys-provider/index.ts';
import { adminRoutes } from './api/admin-routes.ts';
import { CallerResolver, ensureAdminToken } from './api/caller.ts';
import type { AuthorityContext } from './api/context.ts';
import { DenialBudget } from './api/denial.ts';
import { discoveryRoutes } from './api/discovery-routes.ts';
import { svidRoutes } from './api/svid-routes.ts';
import { CertificateAuthority } from './ca/certificate-authority.ts';
import { type CaKeySeal, KeySeal, ProviderKeySeal } from './ca/key-seal.ts';
import { startOwnSvid } from './ca/own-svid.ts';
import { AUTHORITY_CONFIG, authorityConfig } from './config.ts';
import { AUTHORITY_ERRORS } from './errors.ts';
import { createAuthorityMetrics } from './metrics.ts';
import { adminTokenPath } from './paths.ts';
import { Instances } from './store/instances.ts';
import { JoinTokens } from './store/join-tokens.ts';
import { AUTHORITY_MIGRATIONS } from './store/migrations.ts';
import { Revocations } from './store/revocations.ts';

export { CertificateAuthority, type RotationPhase } from './ca/certificate-authority.ts';
export { rootsFromSpiffeBundle, type SpiffeBundle, toSpiffeBundle } from './ca/spiffe-bundle.ts';
export { AUTHORITY_CONFIG, type AuthorityConfig } from './config.ts';
export { AUTHORITY_ERRORS, type AuthorityErrorCode, authorityError } from './errors.ts';

export { adminTokenPath } from './paths.ts';

export const authorityComponent: ComponentDefinition = {
  name: 'authority',
  description: 'Mesh CA: SPIFFE X.509-SVIDs, join tokens, trust bundle, rotation, revocation, discovery',
  defaultPort: 7305,
  configProperties: AUTHORITY_CONFIG,
  errors: AUTHORITY_ERRORS,
  // Every API route decides itself: attestation takes a join token, admin routes the admin token or an
  // admin SVID, workload routes an SVID checked against the authority's own revocation records. Core's
  // /metrics is not among them: it names every workload issued an SVID, so it takes an SVID.
  publicPaths: ['/v1/'],
  create: createAuthority,
};

async function createAuthority(context: ComponentContext): Promise<ComponentInstance> {
  const config = authorityConfig(context.section);
  const home = context.config.home;
  const store = context.openStore();
  try {
    await store.migrate(AUTHORITY_MIGRATIONS);
    const seal = await caKeySeal(context, config.keyPassphrase);
    const ca = new CertificateAuthority({
      store,
      seal,
      clock: context.clock,
      home,
      trustDomain: config.trustDomain,
      svidTtlMs: config.svidTtlSeconds * 1000,
      intermediateTtlMs: config.intermediateTtlDays * 86_400_000,
      sealLocalRoot: config.sealLocalRoot,
    });
    await ca.init();
    const revocations = new Revocations(store, context.clock);
    const own = context.config.server.tls.enabled
      ? await startOwnSvid({
          ca,
          trustDomain: config.trustDomain,
          hosts: serverHosts(context.config),
          clock: context.clock,
          minVersion: context.config.server.tls.minVersion,
          onError: (err) => context.logger.warn({ err: err as Error }, 'renewing the authority SVID failed'),
        })
      : undefined;
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
      denials: new DenialBudget(context.audit, context.clock),
      clock: context.clock,
      logger: context.logger,
      onBundleChange: async () => {
        await own?.refreshBundle();
      },
    };
    const denialTimer = setInterval(() => ctx.denials.tick(), 60_000);
    denialTimer.unref();
    return {
      routes: async (app) => {
        await app.register(svidRoutes(ctx));
        await app.register(adminRoutes(ctx));
        await app.register(discoveryRoutes(ctx));
      },
      readiness: { storage: async () => (await store.query('SELECT 1 AS ok')).length === 1 },
      metrics: ctx.metrics.registry,
      ...(own ? { identity: own } : {}),
      close: async () => {
        clearInterval(denialTimer);
        ctx.denials.flush();
        own?.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * The CA keys are sealed by the deployment's master key (the root of `keys`' hierarchy, configured in
 * `components.keys.master`) when the platform has one, so one root secret protects every key Bulwark
 * holds; an explicit `keyPassphrase`, or an authority run alone, uses authority's own seal.
 */
async function caKeySeal(context: ComponentContext, passphrase: string | null): Promise<CaKeySeal> {
  const home = context.config.home;
  let legacy: KeySeal | undefined;
  const own = () => {
    legacy ??= KeySeal.open(passphrase, join(home, 'authority', 'seal.key'));
    return legacy;
  };
  const master = context.config.components['keys']?.['master'] as MasterKeySettings | undefined;
  if (passphrase || !master) return own();
  return new ProviderKeySeal(await loadKeyProvider(master, home, process.env, randomBytes), own);
}
