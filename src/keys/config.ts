/** The `components.keys` configuration keys (JSON Schema; docs/configuration.md is generated from it). */
import type { JsonSchema } from '../core/index.ts';
import type { MasterKeySettings } from '../core/keys-provider/index.ts';

const callers = (what: string): JsonSchema => ({
  type: 'array',
  items: { type: 'string', minLength: 1 },
  default: [],
  description: `Caller identities (SPIFFE IDs; a trailing \`*\` matches a prefix) allowed to ${what}. Empty: nobody.`,
});

export const KEYS_CONFIG: Record<string, JsonSchema> = {
  master: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'Where the master key comes from. It wraps every stored key and never leaves the provider.',
    properties: {
      provider: {
        type: 'string',
        enum: ['file', 'env', 'passphrase'],
        default: 'file',
        description:
          '`file`: 32 random bytes in `master.file`, created owner-only on first start (protects against a leaked database or backup, not against a leaked data directory). `env`: base64 key in `master.envVar`. `passphrase`: a passphrase in `master.passphraseEnvVar`, stretched with scrypt.',
      },
      file: {
        type: ['string', 'null'],
        default: null,
        'x-default-doc': '`<home>/keys/master.key`',
        description: 'Master key file for the `file` provider (base64 of 32 bytes, mode 0600).',
      },
      envVar: {
        type: 'string',
        pattern: '^[A-Z_][A-Z0-9_]*$',
        default: 'KEYS_MASTER_KEY',
        description:
          'Environment variable holding the base64 master key (`env` provider). Not a BULWARK_ name: those are config overrides.',
      },
      passphraseEnvVar: {
        type: 'string',
        pattern: '^[A-Z_][A-Z0-9_]*$',
        default: 'KEYS_MASTER_PASSPHRASE',
        description:
          'Environment variable holding the passphrase (`passphrase` provider, at least 16 characters).',
      },
      scryptLogN: {
        type: 'integer',
        minimum: 15,
        maximum: 20,
        default: 17,
        description:
          'scrypt cost N = 2^scryptLogN with r = 8, p = 1 (RFC 7914): 17 uses 128 MiB and about 0.3 s per start, the OWASP recommendation. Fixed in `<home>/keys/master.kdf.json` on first start.',
      },
    },
  },
  callerHeader: {
    type: 'string',
    pattern: '^[a-z0-9-]{1,64}$',
    default: 'x-bulwark-caller',
    description:
      'Request header naming the caller (SPIFFE ID). Only trustworthy behind mTLS, which sets it from the peer certificate: a client reaching the port directly can write any value.',
  },
  admins: {
    ...callers('create, list, configure, rotate and trim keys'),
    // The CLI presents this SVID under `bulwark up` (obtained with the authority's admin token).
    default: ['spiffe://bulwark.local/service/operator'],
    description:
      'Caller identities (SPIFFE IDs; a trailing `*` matches a prefix) allowed to create, list, configure, rotate and trim keys. Default: the operator, whose SVID the CLI obtains with the authority admin token under `bulwark up`.',
  },
  subjects: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'Who may use per-subject keys (crypto-shredding).',
    properties: {
      encrypt: callers('encrypt data under a subject key'),
      decrypt: callers('decrypt data under a subject key'),
      erase: callers('erase a subject key (irreversible)'),
    },
  },
  cacheTtlMs: {
    type: 'integer',
    minimum: 0,
    maximum: 60000,
    default: 2000,
    description:
      'How long key settings (latest version, minimum version, allow list) are cached before re-reading the store. A change made by another replica applies within this time.',
  },
  rotationCheckIntervalMs: {
    type: 'integer',
    minimum: 1000,
    default: 60000,
    description: 'How often keys with a `rotation_period_ms` are checked for scheduled rotation.',
  },
  defaultMaxUsesPerVersion: {
    type: 'integer',
    minimum: 1,
    maximum: 2147483648,
    default: 1073741824,
    description:
      'Encryptions per key version before automatic rotation (2^30, well below the 2^32 limit of NIST SP 800-38D §8.3).',
  },
  maxBatch: {
    type: 'integer',
    minimum: 1,
    maximum: 10000,
    default: 1000,
    description: 'Most items in one batch request.',
  },
};

export interface KeysSettings {
  master: MasterKeySettings;
  callerHeader: string;
  admins: string[];
  subjects: { encrypt?: string[]; decrypt?: string[]; erase?: string[] };
  cacheTtlMs: number;
  rotationCheckIntervalMs: number;
  defaultMaxUsesPerVersion: number;
  maxBatch: number;
}
