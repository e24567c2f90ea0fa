/** The `components.identity` configuration keys (JSON Schema, documented in docs/configuration.md). */
import { type ComponentSectionConfig, ConfigError, type JsonSchema } from '../core/index.ts';

export interface IdentityConfig {
  issuer: string | null;
  keyPassphrase: string | null;
  accessTokenTtlSeconds: number;
  idTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  sessionTtlSeconds: number;
  refreshReuseGraceSeconds: number;
  defaultResource: string;
  resources: Record<string, { scopes: string[]; accessTokenTtlSeconds?: number }>;
  passkeyRpName: string;
  bootstrapAdminClient: boolean;
  bruteForce: { accountCap: number; deviceCap: number; ipCap: number; mfaCap: number; ipFree: number };
}

export const IDENTITY_CONFIG: Record<string, JsonSchema> = {
  issuer: {
    type: ['string', 'null'],
    default: null,
    description:
      'OpenID Connect issuer URL (ends in `/oidc`). Null derives it from the listener: `https://<server.host>:<port>/oidc`. Set it when clients reach identity through another name.',
  },
  keyPassphrase: {
    type: ['string', 'null'],
    minLength: 16,
    default: null,
    description:
      'Passphrase that seals signing keys and TOTP seeds at rest (AES-256-GCM under a key from scrypt). Give it through `BULWARK_COMPONENTS__IDENTITY__KEY_PASSPHRASE`, never in the YAML. When null, a random 32-byte key file `<home>/identity/kek` (mode 0600) is created and used instead.',
  },
  accessTokenTtlSeconds: {
    type: 'integer',
    minimum: 60,
    maximum: 3600,
    default: 600,
    description:
      'Lifetime of JWT access tokens. Short, because a JWT is checked locally until it expires (revocation lists cover the gap).',
  },
  idTokenTtlSeconds: {
    type: 'integer',
    minimum: 60,
    maximum: 86400,
    default: 3600,
    description: 'Lifetime of ID tokens.',
  },
  refreshTokenTtlSeconds: {
    type: 'integer',
    minimum: 300,
    maximum: 7776000,
    default: 1209600,
    description:
      'Lifetime of refresh tokens (rotated on every use; reuse of a rotated one revokes the grant).',
  },
  sessionTtlSeconds: {
    type: 'integer',
    minimum: 300,
    maximum: 2592000,
    default: 86400,
    description: 'Lifetime of a sign-in session at the provider.',
  },
  refreshReuseGraceSeconds: {
    type: 'integer',
    minimum: 0,
    maximum: 30,
    default: 2,
    description:
      'A rotated refresh token still works this many seconds after its rotation, so two concurrent refreshes do not log the user out; later reuse revokes the grant.',
  },
  defaultResource: {
    type: 'string',
    minLength: 1,
    default: 'urn:bulwark:api',
    description:
      'Audience of access tokens when the client names no resource indicator (RFC 8707). Must be a key of `resources`.',
  },
  resources: {
    type: 'object',
    default: { 'urn:bulwark:api': { scopes: [] } },
    additionalProperties: {
      type: 'object',
      required: ['scopes'],
      additionalProperties: false,
      properties: {
        scopes: { type: 'array', items: { type: 'string', minLength: 1 } },
        accessTokenTtlSeconds: { type: 'integer', minimum: 60, maximum: 3600 },
      },
    },
    description:
      'Resource servers (APIs) by resource indicator, with the scopes they accept. Access tokens are JWTs for one of them. `urn:bulwark:identity` (the admin API) is always added.',
  },
  passkeyRpName: {
    type: 'string',
    minLength: 1,
    default: 'Bulwark',
    description: 'Name shown by the browser when creating a passkey.',
  },
  bootstrapAdminClient: {
    type: 'boolean',
    default: true,
    description:
      'On first start, create the service account `bulwark-admin` (role admin) and write its credentials to `<home>/identity/admin-client.json` (0600) for the CLI; and `bulwark-revocation-reader` (role `revocation-reader`: the revocation feed only) with `<home>/identity/revocation-reader.json` for gateways.',
  },
  bruteForce: {
    type: 'object',
    default: {},
    additionalProperties: false,
    description: 'Consecutive-failure caps of the sign-in throttle; each is far below NIST SP 800-63B’s 100.',
    properties: {
      accountCap: {
        type: 'integer',
        minimum: 3,
        maximum: 50,
        default: 20,
        description: 'Failures from unknown devices that block an account for an hour.',
      },
      deviceCap: {
        type: 'integer',
        minimum: 3,
        maximum: 50,
        default: 10,
        description: 'Failures from a recognised device (device cookie) that block that device.',
      },
      ipFree: {
        type: 'integer',
        minimum: 1,
        maximum: 200,
        default: 20,
        description: 'Failures from one IP address before delays start.',
      },
      ipCap: {
        type: 'integer',
        minimum: 5,
        maximum: 500,
        default: 60,
        description: 'Failures from one IP address (across accounts) that block it for an hour.',
      },
      mfaCap: {
        type: 'integer',
        minimum: 3,
        maximum: 20,
        default: 6,
        description: 'Wrong second-factor codes that block MFA for the account for 15 minutes.',
      },
    },
  },
};

const DEFAULTS = { accountCap: 20, deviceCap: 10, ipFree: 20, ipCap: 60, mfaCap: 6 };

/** The section with defaults filled in (the loader fills them; tests may pass partial sections). */
export function identityConfig(section: ComponentSectionConfig): IdentityConfig {
  const get = <T>(key: string): T => (section[key] ?? IDENTITY_CONFIG[key]!.default) as T;
  const resources = get<IdentityConfig['resources']>('resources');
  const defaultResource = get<string>('defaultResource');
  if (!resources[defaultResource]) {
    throw new ConfigError([
      {
        path: 'components.identity.defaultResource',
        message: `${defaultResource} is not one of components.identity.resources`,
        fix: 'name a key of `resources`, or add the resource there',
      },
    ]);
  }
  return {
    issuer: get('issuer'),
    keyPassphrase: get('keyPassphrase'),
    accessTokenTtlSeconds: get('accessTokenTtlSeconds'),
    idTokenTtlSeconds: get('idTokenTtlSeconds'),
    refreshTokenTtlSeconds: get('refreshTokenTtlSeconds'),
    sessionTtlSeconds: get('sessionTtlSeconds'),
    refreshReuseGraceSeconds: get('refreshReuseGraceSeconds'),
    defaultResource,
    resources,
    passkeyRpName: get('passkeyRpName'),
    bootstrapAdminClient: get('bootstrapAdminClient'),
    bruteForce: {
      ...DEFAULTS,
      ...(section['bruteForce'] as Partial<IdentityConfig['bruteForce']> | undefined),
    },
  };
}
