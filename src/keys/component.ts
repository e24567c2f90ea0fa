/**
 * The `keys` component: key hierarchy, transit API, tokenization and crypto-shredding, on its own store.
 */
import { randomBytes } from 'node:crypto';
import {
  type ComponentContext,
  type ComponentDefinition,
  type ComponentInstance,
  callerOf as peerOf,
} from '../core/index.ts';
import type { KeyProvider, RandomSource } from '../core/keys-provider/index.ts';
import { loadKeyProvider } from '../core/keys-provider/index.ts';
import { adminRoutes } from './api/admin-routes.ts';
import { AllowListAuthorizer, type Authorizer, callerOf } from './api/authorize.ts';
import type { KeysServices } from './api/services.ts';
import { subjectRoutes } from './api/subject-routes.ts';
import { transitRoutes } from './api/transit-routes.ts';
import { useStrictValidation } from './api/validator.ts';
import { KEYS_CONFIG, type KeysSettings } from './config.ts';
import { KEYS_ERRORS, keysError } from './errors.ts';
import { Keyring } from './keyring/keyring.ts';
import { SubjectKeys } from './shred/subject-keys.ts';
import { KeyStore } from './store/key-store.ts';
import { KEYS_MIGRATIONS } from './store/migrations.ts';
import { TokenVault } from './tokenize/token-vault.ts';
import { Transit } from './transit/operations.ts';

/** What tests and embedders may swap: the random source, the provider, the authorizer, the environment. */
export interface KeysOverrides {
  random?: RandomSource;
  provider?: KeyProvider;
  authorizer?: Authorizer;
  env?: NodeJS.ProcessEnv;
}

/** Builds the component, with optional overrides (the default definition uses none). */
export function createKeysComponent(overrides: KeysOverrides = {}): ComponentDefinition {
  return {
    name: 'keys',
    description: 'Envelope encryption, key rotation, transit API, tokenization and crypto-shredding',
    defaultPort: 7303,
    // Readers, ACLs and admins are SPIFFE IDs: without the mesh there is no caller to check.
    callersFromMesh: true,
    configProperties: KEYS_CONFIG,
    errors: KEYS_ERRORS,
    create: (context) => createKeys(context, overrides),
  };
}

export const keysComponent: ComponentDefinition = createKeysComponent();

async function createKeys(context: ComponentContext, overrides: KeysOverrides): Promise<ComponentInstance> {
  const settings = context.section as unknown as KeysSettings;
  const random = overrides.random ?? randomBytes;
  const provider =
    overrides.provider ??
    (await loadKeyProvider(settings.master, context.config.home, overrides.env ?? process.env, random));
  const store = context.openStore();
  try {
    await store.migrate(KEYS_MIGRATIONS);
    const keyStore = new KeyStore(store);
    const keyring = new Keyring({
      store: keyStore,
      provider,
      clock: context.clock,
      random,
      cacheTtlMs: settings.cacheTtlMs,
      defaultMaxUses: settings.defaultMaxUsesPerVersion,
    });
    await keyring.init();
    if (context.mesh) await ensurePlatformKeys(keyring, context.mesh.spiffeIdOf('identity'), context);
    const transit = new Transit(keyring, random);
    const services: KeysServices = {
      keyring,
      transit,
      vault: new TokenVault(keyStore, transit, random, context.clock),
      subjects: new SubjectKeys(keyStore, provider, context.clock, random),
      authorizer:
        overrides.authorizer ??
        new AllowListAuthorizer(settings.admins, withPlatformSubjects(settings.subjects, context)),
      audit: context.audit,
      identifyCaller: context.mesh
        ? (req) => {
            // The mTLS gate let the request in only with a verified SVID: that is the caller, and any
            // caller header is ignored.
            const peer = peerOf(req);
            if (!peer) throw keysError('keys_unauthenticated', 'no verified client certificate');
            return peer.spiffeId.uri;
          }
        : (req) => callerOf(req, settings.callerHeader),
      maxBatch: settings.maxBatch,
    };
    context.logger.info({ provider: provider.kind, engine: store.engine }, 'keys ready');
    const timer = setInterval(() => {
      keyring.rotateDue().then(
        (names) => {
          for (const name of names) {
            context.logger.info({ key: name }, 'scheduled rotation');
            context.audit.record({
              actor: { type: 'system', id: 'keys' },
              action: 'keys.rotate',
              target: { type: 'key', id: name },
              outcome: 'success',
              reason: 'scheduled',
            });
          }
        },
        (err: unknown) => context.logger.error({ err }, 'scheduled rotation failed'),
      );
    }, settings.rotationCheckIntervalMs);
    timer.unref();
    return {
      routes: async (app) => {
        useStrictValidation(app);
        adminRoutes(app, services);
        transitRoutes(app, services);
        subjectRoutes(app, services);
      },
      readiness: { store: async () => (await store.query('SELECT 1 AS one')).length === 1 },
      close: async () => {
        clearInterval(timer);
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * What Bulwark's own components need from keys when they run on the mesh: identity seals its signing keys
 * and TOTP seeds under `bulwark-identity` (data keys and decrypt for identity's SPIFFE ID only), and audit
 * encrypts personal data under each subject's key (subject encrypt and decrypt for audit; erasure stays
 * with the configured callers).
 */
export const IDENTITY_KEY = 'bulwark-identity';

async function ensurePlatformKeys(keyring: Keyring, identity: string, context: ComponentContext) {
  try {
    await keyring.record(IDENTITY_KEY);
  } catch {
    await keyring
      .create({ name: IDENTITY_KEY, type: 'aes256-gcm', acl: { datakey: [identity], decrypt: [identity] } })
      .then(() => context.logger.info({ key: IDENTITY_KEY }, "created identity's key"))
      // Another replica created it first.
      .catch(() => undefined);
  }
}

function withPlatformSubjects(subjects: KeysSettings['subjects'], context: ComponentContext) {
  if (!context.mesh) return subjects;
  const audit = context.mesh.spiffeIdOf('audit');
  return {
    ...subjects,
    encrypt: [...(subjects.encrypt ?? []), audit],
    decrypt: [...(subjects.decrypt ?? []), audit],
  };
}
