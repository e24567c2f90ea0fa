/**
 * The identity component: an OpenID Connect provider (oidc-provider) with users, MFA, RBAC, service
 * accounts, brute-force protection, an admin API and Bulwark's revocation list.
 */
import { Provider } from 'oidc-provider';
import type { ComponentContext, ComponentDefinition, ComponentInstance, Store } from '../core/index.ts';
import type { KeysClient } from '../sdk/keys/index.ts';
import { ADMIN_RESOURCE, ADMIN_SCOPE } from './admin/admin-auth.ts';
import { registerPlatformRoutes } from './admin/platform-routes.ts';
import { registerUserRoutes } from './admin/user-routes.ts';
import { bootstrapAdminClient, bootstrapRevocationReader } from './bootstrap.ts';
import { ClientRegistry, installHashedSecretComparison } from './clients/client-registry.ts';
import { IDENTITY_CONFIG, identityConfig } from './config.ts';
import { IDENTITY_ERRORS } from './errors.ts';
import { createSecretBox, loadKek } from './keys/key-encryption.ts';
import { resealStale } from './keys/reseal.ts';
import { KeysVault, localVault, type SecretVault } from './keys/secret-vault.ts';
import { SigningKeys } from './keys/signing-keys.ts';
import { DEFAULT_RULES, Throttle } from './login/throttle.ts';
import { Passkeys } from './mfa/passkeys.ts';
import { RecoveryCodes } from './mfa/recovery-codes.ts';
import { TotpFactor } from './mfa/totp.ts';
import { IDENTITY_MIGRATIONS } from './migrations.ts';
import { pagesPlugin } from './pages/pages-plugin.ts';
import { adapterFactory, purgeExpired } from './provider/adapter.ts';
import { providerConfiguration } from './provider/configuration.ts';
import { introspectionFastPath } from './provider/introspection-fast-path.ts';
import { mountProvider, ProviderHost } from './provider/mount.ts';
import { auditProviderEvents, tokenMiddleware } from './provider/token-middleware.ts';
import type { IdentityServices } from './services.ts';
import { AccessTokenVerifier } from './tokens/access-token-verifier.ts';
import { RevocationList } from './tokens/revocation-list.ts';
import { Invitations } from './users/invitations.ts';
import { warmDummyHash } from './users/password-hash.ts';
import { RoleStore } from './users/roles.ts';
import { UserStore } from './users/user-store.ts';

const SYNC_MS = 2000;
const MAINTENANCE_MS = 60_000;
const CLIENT_ROLES_CACHE_MS = 2000;

/** What the runtime may inject into identity (see {@link createIdentityComponent}). */
export interface IdentityOptions {
  /**
   * The client identity seals its secrets at rest with (signing keys, TOTP seeds), called once per start.
   * Undefined (or a function returning undefined): the local key-encryption key, as before. Identity
   * closes the client when it stops (`KeysClient.close` leaves an injected dispatcher alone).
   */
  keys?: (ctx: ComponentContext) => KeysClient | undefined | Promise<KeysClient | undefined>;
  /** The named AES-256-GCM key in `keys` (default `bulwark-identity`; created on first use by an admin caller). */
  keysKey?: string;
  /** How long a data key from `keys` is cached for sealing and opening (default 5 min). */
  keysCacheTtlMs?: number;
}

/** Builds the services and the provider factory; exported for tests that need the parts. */
export async function createIdentity(
  ctx: ComponentContext,
  options: IdentityOptions = {},
): ReturnType<typeof buildIdentity> {
  const store = ctx.openStore();
  const client = await options.keys?.(ctx);
  try {
    return await buildIdentity(ctx, store, client, options);
  } catch (err) {
    // A start that fails (storage, migration, wrong passphrase, keys down) must not leave a pool or file open.
    await store.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    throw err;
  }
}

/** The vault for this start: `keys` when a client is given (re-sealing local values to it), else local. */
async function openVault(
  store: Store,
  box: ReturnType<typeof createSecretBox>,
  client: KeysClient | undefined,
  options: IdentityOptions,
  logger: ComponentContext['logger'],
): Promise<SecretVault> {
  if (!client) return localVault(box);
  const vault = new KeysVault({
    client,
    legacy: box,
    ...(options.keysKey ? { key: options.keysKey } : {}),
    ...(options.keysCacheTtlMs === undefined ? {} : { ttlMs: options.keysCacheTtlMs }),
  });
  await vault.init();
  const moved = await resealStale(store, vault);
  logger.info({ vault: 'keys', resealed: moved }, 'identity secrets are sealed through keys');
  return vault;
}

async function buildIdentity(
  ctx: ComponentContext,
  store: Store,
  client: KeysClient | undefined,
  options: IdentityOptions,
): Promise<{
  services: IdentityServices;
  findClient(id: string): Promise<Record<string, unknown> | undefined>;
  close(): Promise<void>;
}> {
  const config = identityConfig(ctx.section);
  await store.migrate(IDENTITY_MIGRATIONS);
  const { clock, audit, logger } = ctx;
  // The local key stays even with `keys`: it opens values written before, and derives cookie/CSRF keys.
  const box = createSecretBox(loadKek(ctx.config.home, config.keyPassphrase));
  const vault = await openVault(store, box, client, options, logger);
  const maxTokenSeconds = Math.max(
    config.accessTokenTtlSeconds,
    config.idTokenTtlSeconds,
    ...Object.values(config.resources).map((r) => r.accessTokenTtlSeconds ?? 0),
  );
  const keys = new SigningKeys({ store, vault, clock, retentionMs: (maxTokenSeconds + 300) * 1000 });
  await keys.ensure();
  const roles = new RoleStore(store);
  await roles.seed();
  const revocations = new RevocationList({ store, clock, grantRetentionMs: (maxTokenSeconds + 60) * 1000 });
  await revocations.sync();
  if (config.bootstrapAdminClient && (await bootstrapAdminClient(store, roles, ctx.config.home))) {
    logger.info(
      { clientId: 'bulwark-admin' },
      'created the admin service account; credentials in <home>/identity/admin-client.json',
    );
  }
  if (config.bootstrapAdminClient && (await bootstrapRevocationReader(store, roles, ctx.config.home))) {
    logger.info(
      { clientId: 'bulwark-revocation-reader' },
      "created the gateways' revocation feed account; credentials in <home>/identity/revocation-reader.json",
    );
  }
  const Adapter = adapterFactory(
    store,
    clock,
    { onGrantRevoked: (grantId) => revocations.revokeGrant(grantId, 'grant revoked') },
    {
      graceMs: config.refreshReuseGraceSeconds * 1000,
    },
  );
  const users = new UserStore(store, clock);
  await warmDummyHash();
  const resources = { ...config.resources, [ADMIN_RESOURCE]: { scopes: [ADMIN_SCOPE] } };
  const clientRoles = new Map<string, { at: number; roles: string[] }>();
  let verifier: AccessTokenVerifier | undefined;

  const build = async (issuer: string): Promise<Provider> => {
    const { keys: jwks, currentKid } = await keys.privateJwks();
    const provider = new Provider(
      issuer,
      providerConfiguration({
        jwks,
        currentKid,
        cookieKeys: [box.derive('oidc-cookies').toString('base64url')],
        secureCookies: ctx.config.server.tls.enabled,
        adapter: Adapter,
        findAccount: async (_ctx, sub) => {
          const user = await users.get(sub);
          if (user?.status !== 'active') return undefined;
          return {
            accountId: sub,
            claims: async () => ({
              sub,
              preferred_username: user.username,
              name: user.username,
              ...(user.email ? { email: user.email, email_verified: false } : {}),
              roles: (await roles.rolesOf('user', sub)).map((r) => r.name),
            }),
          };
        },
        resources,
        defaultResource: config.defaultResource,
        ttl: {
          accessToken: config.accessTokenTtlSeconds,
          idToken: config.idTokenTtlSeconds,
          refreshToken: config.refreshTokenTtlSeconds,
          session: config.sessionTtlSeconds,
          grant: config.refreshTokenTtlSeconds,
          code: 60,
        },
        rolesOf: async ({ accountId, clientId }) => {
          if (accountId) return (await roles.rolesOf('user', accountId)).map((r) => r.name);
          const hit = clientRoles.get(clientId);
          if (hit && clock.now() - hit.at < CLIENT_ROLES_CACHE_MS) return hit.roles;
          const list = (await roles.rolesOf('client', clientId)).map((r) => r.name);
          clientRoles.set(clientId, { at: clock.now(), roles: list });
          return list;
        },
      }),
    );
    installHashedSecretComparison(provider);
    provider.use(tokenMiddleware({ verifier: () => services.verifier(), revocations, audit }));
    auditProviderEvents(provider, audit);
    provider.on('server_error', (_ctx: unknown, err: Error) =>
      logger.error({ err }, 'oidc-provider server error'),
    );
    const publicKeys = await keys.publicJwks();
    if (verifier) verifier.setKeys(publicKeys);
    else verifier = new AccessTokenVerifier({ issuer, keys: publicKeys, revocations, clock });
    return provider;
  };

  const host = new ProviderHost({ build, issuer: config.issuer });
  const throttle = new Throttle(store, clock, {
    ...DEFAULT_RULES,
    acct: { ...DEFAULT_RULES.acct, cap: config.bruteForce.accountCap },
    dev: { ...DEFAULT_RULES.dev, cap: config.bruteForce.deviceCap },
    ip: { ...DEFAULT_RULES.ip, free: config.bruteForce.ipFree, cap: config.bruteForce.ipCap },
    mfa: { ...DEFAULT_RULES.mfa, cap: config.bruteForce.mfaCap },
  });
  const services: IdentityServices = {
    config,
    store,
    clock,
    logger,
    audit,
    box,
    vault,
    host,
    provider: () => host.provider(),
    verifier: () => {
      if (!verifier) throw new TypeError('the provider has not been built yet');
      return verifier;
    },
    keys,
    revocations,
    users,
    roles,
    invitations: new Invitations(store, clock),
    clients: new ClientRegistry({
      store,
      provider: () => host.provider(),
      invalidate: (id) => Adapter.invalidateClient(id),
    }),
    totp: new TotpFactor({ store, vault, clock, issuer: 'Bulwark' }),
    recovery: new RecoveryCodes(store, clock),
    passkeys: new Passkeys({
      store,
      clock,
      settings: () => {
        const origin = new URL(host.issuer);
        return { rpId: origin.hostname, rpName: config.passkeyRpName, origin: origin.origin };
      },
    }),
    throttle,
    tls: ctx.config.server.tls.enabled,
    listenHost: ctx.config.server.host,
  };

  let keyVersion = await keys.version();
  const sync = setInterval(() => {
    revocations.sync().catch((err: unknown) => logger.warn({ err }, 'revocation sync failed'));
  }, SYNC_MS);
  const maintenance = setInterval(() => {
    void (async () => {
      await purgeExpired(store, clock);
      await revocations.purge();
      // A rotation done by another replica: rebuild with the new key set.
      const version = await keys.version();
      if (version !== keyVersion) {
        keyVersion = version;
        await host.rebuild();
      }
    })().catch((err: unknown) => logger.warn({ err }, 'identity maintenance failed'));
  }, MAINTENANCE_MS);
  sync.unref();
  maintenance.unref();

  return {
    services,
    findClient: async (id) => (await new Adapter('Client').find(id)) as Record<string, unknown> | undefined,
    close: async () => {
      clearInterval(sync);
      clearInterval(maintenance);
      if (vault instanceof KeysVault) vault.clear();
      await store.close();
      await client?.close();
    },
  };
}

/**
 * The identity component, with what the runtime injects.
 *
 * @example
 * // in the runtime, once mTLS gives components a dispatcher and the keys URL:
 * createIdentityComponent({ keys: () => new KeysClient({ url: keysUrl, caller: identitySpiffeId, dispatcher }) })
 */
export function createIdentityComponent(options: IdentityOptions = {}): ComponentDefinition {
  return {
    ...identityDefinition,
    create: (ctx) => createIdentityInstance(ctx, options),
  };
}

const identityDefinition = {
  name: 'identity',
  description:
    'OpenID Connect provider: users, MFA, roles, service accounts, signing keys and token revocation',
  defaultPort: 7304,
  configProperties: IDENTITY_CONFIG,
  errors: IDENTITY_ERRORS,
  // Browsers and OpenID Connect clients reach these without an SVID (the issuer's endpoints, the login
  // and invitation pages, their assets); the admin API and the revocation feed take callers with an SVID
  // only.
  publicPaths: ['/oidc', '/interaction', '/invitation', '/assets'],
};

async function createIdentityInstance(
  ctx: ComponentContext,
  options: IdentityOptions,
): Promise<ComponentInstance> {
  const { services, findClient, close } = await createIdentity(ctx, options);
  const { host, tls, listenHost } = services;
  return {
    routes: async (app) => {
      // The issuer needs the bound port: resolve it on the first request of any route here.
      app.addHook('onRequest', async () => {
        host.resolveIssuer(app, tls, listenHost);
      });
      mountProvider(app, host, tls, listenHost);
      await app.register(introspectionFastPath(services, findClient));
      await app.register(pagesPlugin(services));
      registerUserRoutes(app, services);
      registerPlatformRoutes(app, services);
    },
    readiness: {
      storage: async () => {
        await services.store.query('SELECT 1 AS ok');
        return true;
      },
    },
    close,
  };
}

/** Identity sealing its secrets with the local key-encryption key (no `keys` client). */
export const identityComponent: ComponentDefinition = createIdentityComponent();
