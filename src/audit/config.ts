/**
 * The `components.audit` configuration keys. Defaults are the secure choice: retention at the regulatory
 * minimum for the known categories, secrets refused, personal data pseudonymised.
 */
import type { ComponentSectionConfig, JsonSchema } from '../core/index.ts';

const YEAR_DAYS = 365;

export const AUDIT_CONFIG_PROPERTIES: Record<string, JsonSchema> = {
  origin: {
    type: 'string',
    minLength: 1,
    pattern: '^[^\\s+]+$',
    default: 'bulwark.local/audit',
    description:
      'The log origin (C2SP tlog-checkpoint first line) and the name of the log key. One log per deployment; changing it starts a different log.',
  },
  checkpointIntervalMs: {
    type: 'integer',
    minimum: 10,
    maximum: 60000,
    default: 200,
    description: 'How often a new signed checkpoint is issued when records were appended since the last one.',
  },
  anchorDirectory: {
    type: ['string', 'null'],
    default: null,
    description:
      'Directory that signed checkpoints are exported to, intended for WORM / object-lock storage. Null means `<home>/audit/anchor`.',
  },
  anchorIntervalMs: {
    type: 'integer',
    minimum: 0,
    default: 60000,
    description:
      'How often the latest checkpoint is written to the anchor directory (0 turns anchoring off).',
  },
  maxBatch: {
    type: 'integer',
    minimum: 1,
    maximum: 5000,
    default: 1000,
    description: 'Most records accepted in one ingest request.',
  },
  entriesMaxBytes: {
    type: 'integer',
    minimum: 65536,
    default: 16777216,
    description:
      'Most bytes one `/audit/v1/entries` answer holds; a longer range ends early and `x-entries-end` says where (readers go on from there).',
  },
  ingestWorkers: {
    type: 'integer',
    minimum: 0,
    maximum: 16,
    default: 1,
    description:
      'Threads that parse and validate ingest batches and serialise their leaf data, so the event loop only orders and commits them. 0 does all of it on the event loop.',
  },
  maxClockSkewMs: {
    type: 'integer',
    minimum: 0,
    default: 300000,
    description:
      'Records dated further in the future than this are refused (a forged date could dodge retention).',
  },
  retentionDays: {
    type: 'object',
    additionalProperties: { type: 'integer', minimum: 1 },
    default: { financial: 7 * YEAR_DAYS, health: 6 * YEAR_DAYS, default: YEAR_DAYS },
    description:
      'Days each category is kept (SOX: 7 years for `financial`, HIPAA: 6 years for `health`); `default` applies to every other category. Entries are added to these defaults: a category not named keeps its default.',
  },
  pruneIntervalMs: {
    type: 'integer',
    minimum: 0,
    default: 0,
    description:
      'How often expired records are pruned (0: only on request). Pruning only moves the minimum index forward.',
  },
  hashKeys: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['email', 'phone', 'ssn', 'dateOfBirth', 'address', 'username'],
    description:
      'Keys in `details` whose values are personal data: stored as a keyed hash (HMAC-SHA256 with a log-held key), so events can still be correlated.',
  },
  maskKeys: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['cardNumber', 'pan', 'iban', 'accountNumber'],
    description: 'Keys in `details` whose values are masked except for the last four characters.',
  },
  readers: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['spiffe://bulwark.local/service/operator'],
    description:
      'SPIFFE IDs (a trailing `*` matches a prefix) that may search, export and read records, entries and tiles when audit serves mTLS. Every workload of the trust domain may append and read checkpoints and the log key.',
  },
  admins: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['spiffe://bulwark.local/service/operator'],
    description: 'SPIFFE IDs that may place and lift legal holds and prune, when audit serves mTLS.',
  },
  shredKeys: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['email', 'phone', 'name', 'fullName', 'address', 'dateOfBirth', 'ssn'],
    description:
      "Keys in `details` (and a user actor's `name` and `source.ip`) encrypted under the data subject's key in `keys` before the record is hashed, so erasing that key makes them unreadable while every proof stays valid (crypto-shredding). Active when audit runs on the mesh with `keys`; otherwise `hashKeys` / `maskKeys` apply.",
  },
  shredSubjectTypes: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['user'],
    description: 'Target types whose id is the data subject of a record (else the actor is).',
  },
  shredDataKeyTtlMs: {
    type: 'integer',
    minimum: 0,
    maximum: 3600000,
    default: 600000,
    description: "How long one subject's data key seals new values before a new one is wrapped by `keys`.",
  },
  secretKeys: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: [
      'password',
      'passwd',
      'secret',
      'clientSecret',
      'token',
      'accessToken',
      'refreshToken',
      'idToken',
      'apiKey',
      'authorization',
      'cookie',
      'privateKey',
      'sessionId',
      'otp',
      'cvv',
    ],
    description: 'Keys whose presence anywhere in a record makes it refused with 400 `audit_secret_refused`.',
  },
};

export interface AuditSettings {
  origin: string;
  checkpointIntervalMs: number;
  anchorDirectory: string | null;
  anchorIntervalMs: number;
  maxBatch: number;
  entriesMaxBytes: number;
  maxClockSkewMs: number;
  ingestWorkers: number;
  retentionDays: Record<string, number>;
  pruneIntervalMs: number;
  hashKeys: string[];
  maskKeys: string[];
  secretKeys: string[];
  readers: string[];
  admins: string[];
  shredKeys: string[];
  shredSubjectTypes: string[];
  shredDataKeyTtlMs: number;
}

/** Reads the section, falling back to each key's default (the section may come from a test). */
export function auditSettings(section: ComponentSectionConfig): AuditSettings {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(AUDIT_CONFIG_PROPERTIES))
    out[key] = section[key] ?? schema.default;
  // Categories are added to the regulatory defaults, not swapped for them: `{ security: 730 }` alone
  // must not cut `financial` (SOX) and `health` (HIPAA) to the one-year `default`.
  out['retentionDays'] = {
    ...(AUDIT_CONFIG_PROPERTIES['retentionDays']!.default as Record<string, number>),
    ...(section['retentionDays'] as Record<string, number> | undefined),
  };
  return out as unknown as AuditSettings;
}
