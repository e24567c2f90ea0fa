/** The `components.authority` configuration keys (documented from this schema). */
import type { JsonSchema } from '../core/index.ts';

export const AUTHORITY_CONFIG: Record<string, JsonSchema> = {
  trustDomain: {
    type: 'string',
    pattern: '^[a-z0-9._-]{1,255}$',
    default: 'bulwark.local',
    description:
      'SPIFFE trust domain of this mesh; services get `spiffe://<trustDomain>/service/<name>` (SPIFFE-ID §2.1: lower case, digits, `.`, `-`, `_`).',
  },
  svidTtlSeconds: {
    type: 'integer',
    minimum: 60,
    maximum: 86400,
    default: 3600,
    description: 'Lifetime of an X.509-SVID. Workloads renew at half-life with jitter.',
  },
  intermediateTtlDays: {
    type: 'integer',
    minimum: 1,
    maximum: 365,
    default: 30,
    description:
      'Lifetime of the issuing intermediate CA; a new one is made when less than a quarter of it is left.',
  },
  joinTokenTtlSeconds: {
    type: 'integer',
    minimum: 10,
    maximum: 604800,
    default: 3600,
    description: 'How long a one-time join token stays usable.',
  },
  keyPassphrase: {
    type: ['string', 'null'],
    default: null,
    description:
      'Passphrase that seals the CA private keys at rest (AES-256-GCM, key from scrypt). Give it through `BULWARK_COMPONENTS__AUTHORITY__KEY_PASSPHRASE`, never in the YAML. When null, a random 32-byte key file `<home>/authority/seal.key` (mode 0600) is created and used instead.',
  },
  sealLocalRoot: {
    type: 'boolean',
    default: false,
    description:
      "After importing the local root (`<home>/tls/ca.key`) into its store, sealed, delete the file, so the root's private key exists only sealed inside authority (the certificate `<home>/tls/ca.crt` stays: it is the trust anchor). `bulwark up` turns this on: every component then serves an SVID, and nothing else needs the file. Off, the file stays for components run alone on the local CA.",
  },
  instanceTtlSeconds: {
    type: 'integer',
    minimum: 2,
    maximum: 3600,
    default: 15,
    description:
      'A registered instance that has not sent a heartbeat for this long is reported unhealthy and no longer resolved.',
  },
  adminSpiffeIds: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: [],
    description:
      'SPIFFE IDs allowed to call the admin API with their SVID, besides holders of `<home>/authority/admin.token`.',
  },
};

export interface AuthorityConfig {
  trustDomain: string;
  svidTtlSeconds: number;
  intermediateTtlDays: number;
  joinTokenTtlSeconds: number;
  keyPassphrase: string | null;
  sealLocalRoot: boolean;
  instanceTtlSeconds: number;
  adminSpiffeIds: string[];
}

/** The section with defaults applied (the loader fills them in; this covers direct construction in tests). */
export function authorityConfig(section: Record<string, unknown>): AuthorityConfig {
  const pick = <T>(key: string): T => (section[key] ?? AUTHORITY_CONFIG[key]!.default) as T;
  return {
    trustDomain: pick('trustDomain'),
    svidTtlSeconds: pick('svidTtlSeconds'),
    intermediateTtlDays: pick('intermediateTtlDays'),
    joinTokenTtlSeconds: pick('joinTokenTtlSeconds'),
    keyPassphrase: pick('keyPassphrase'),
    sealLocalRoot: pick('sealLocalRoot'),
    instanceTtlSeconds: pick('instanceTtlSeconds'),
    adminSpiffeIds: pick('adminSpiffeIds'),
  };
}
