/** The `components.policy` section: its own module, so the configuration can be checked without loading policy. */
import type { JsonSchema } from '../core/index.ts';

export const POLICY_CONFIG: Record<string, JsonSchema> = {
  directory: {
    type: ['string', 'null'],
    default: null,
    description:
      "Directory of policy files: every `*.cedar` below it, `schema.cedarschema` (Bulwark's schema when absent) and `entities.json` (known entities) at its top. Null means `<home>/policies` when that directory exists, else API-only.",
  },
  reloadIntervalMs: {
    type: 'integer',
    minimum: 0,
    default: 5000,
    description:
      'How often the directory is re-read and the newest stored version picked up (ms, 0 = never). A directory that fails to compile is logged and ignored; the version in force keeps serving.',
  },
  admins: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['spiffe://bulwark.local/service/operator'],
    description:
      'SPIFFE IDs (a trailing `*` matches a prefix) that may change the policy set (put and delete documents, reload) when policy serves mTLS. Every workload of the trust domain may read the bundle and ask for decisions.',
  },
  cacheSize: {
    type: 'integer',
    minimum: 0,
    default: 10000,
    description: 'Decisions cached per bundle by the decision API (0 disables the cache).',
  },
  decisionLog: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'What the decision API writes to the audit log.',
    properties: {
      allowSampleRate: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        default: 1,
        description:
          'Fraction of allow decisions recorded (every deny is always recorded). Lower it under heavy load.',
      },
    },
  },
};
