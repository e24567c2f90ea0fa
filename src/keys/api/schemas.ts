/** JSON Schemas of the API bodies (fastify validates every body against them before a handler runs). */
import { KEY_OPERATIONS, KEY_TYPES } from '../keyring/key-types.ts';
import { TOKEN_FORMATS } from '../tokenize/token-format.ts';

export const KEY_NAME = '^[a-z0-9][a-z0-9._-]{0,63}$';
const base64 = { type: 'string', maxLength: 1_000_000, pattern: '^[A-Za-z0-9+/_-]*={0,2}$' } as const;
const ciphertext = { type: 'string', minLength: 1, maxLength: 1_400_000 } as const;

export const contextSchema = {
  type: 'object',
  maxProperties: 16,
  propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
  additionalProperties: { type: 'string', maxLength: 1024 },
} as const;

export const aclSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    KEY_OPERATIONS.map((op) => [
      op,
      { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 2048 } },
    ]),
  ),
} as const;

export const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: KEY_NAME } },
} as const;

/**
 * A body that is either one item (its fields at the top level) or `{ batch: [items] }`. Written without
 * `oneOf` branches that carry `additionalProperties`, which fastify's `removeAdditional` would strip
 * while trying the first branch.
 */
export function oneOrBatch(item: Record<string, unknown>, required: readonly string[], maxBatch: number) {
  const itemSchema = { type: 'object', required, additionalProperties: false, properties: item };
  return {
    type: 'object',
    additionalProperties: false,
    properties: { ...item, batch: { type: 'array', minItems: 1, maxItems: maxBatch, items: itemSchema } },
    ...(required.length > 0 ? { anyOf: [{ required: ['batch'] }, { required }] } : {}),
  };
}

export const itemSchemas = {
  encrypt: { item: { plaintext: base64, context: contextSchema }, required: ['plaintext'] },
  decrypt: { item: { ciphertext, context: contextSchema }, required: ['ciphertext'] },
  rewrap: { item: { ciphertext, context: contextSchema }, required: ['ciphertext'] },
  datakey: { item: { context: contextSchema }, required: [] },
  hmac: { item: { input: base64 }, required: ['input'] },
  sign: { item: { input: base64 }, required: ['input'] },
  verify: { item: { input: base64, signature: ciphertext }, required: ['input', 'signature'] },
  tokenize: {
    item: {
      value: { type: 'string', minLength: 1, maxLength: 4096 },
      format: { type: 'string', enum: TOKEN_FORMATS },
      keep_last: { type: 'integer', minimum: 0, maximum: 4 },
    },
    required: ['value'],
  },
  detokenize: { item: { token: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['token'] },
} as const;

export const createKeySchema = {
  type: 'object',
  required: ['name', 'type'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: KEY_NAME },
    type: { type: 'string', enum: KEY_TYPES },
    rotation_period_ms: { type: ['integer', 'null'], minimum: 60_000 },
    max_uses_per_version: { type: 'integer', minimum: 1, maximum: 2 ** 31 },
    acl: aclSchema,
  },
} as const;

export const configureKeySchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    min_decryption_version: { type: 'integer', minimum: 1 },
    rotation_period_ms: { type: ['integer', 'null'], minimum: 60_000 },
    max_uses_per_version: { type: 'integer', minimum: 1, maximum: 2 ** 31 },
    acl: aclSchema,
  },
} as const;

export const trimSchema = {
  type: 'object',
  required: ['min_available_version'],
  additionalProperties: false,
  properties: { min_available_version: { type: 'integer', minimum: 1 } },
} as const;

export const subjectSchema = (withItems: 'encrypt' | 'decrypt' | 'none', maxBatch: number) => ({
  type: 'object',
  required: withItems === 'none' ? ['subject'] : ['subject', 'batch'],
  additionalProperties: false,
  properties: {
    subject: { type: 'string', minLength: 1, maxLength: 1024 },
    ...(withItems === 'none'
      ? {}
      : {
          batch: {
            type: 'array',
            minItems: 1,
            maxItems: maxBatch,
            items: {
              type: 'object',
              required: [withItems === 'encrypt' ? 'plaintext' : 'ciphertext'],
              additionalProperties: false,
              properties:
                withItems === 'encrypt'
                  ? { plaintext: base64, context: contextSchema }
                  : { ciphertext, context: contextSchema },
            },
          },
        }),
  },
});
