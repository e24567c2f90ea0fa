/**
 * JSON Schema pieces the audit routes share for their parameters: what the storage engines can hold, so a
 * value PostgreSQL would refuse (a number past bigint, a NUL in text) is a 400 naming the parameter, not a
 * database error, on both engines alike.
 */
import { RECORD_ID } from '../record/record-schema.ts';

/** Indexes and sizes: exact in a double, and inside PostgreSQL's bigint. */
export const uint = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/** Record ids as the record schema allows them. */
export const recordIdParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: RECORD_ID.source } },
} as const;

/** Free text for a filter or a reason: PostgreSQL text cannot hold a NUL (no stored value has one). */
export const textWithoutNul = (maxLength: number, minLength = 0) =>
  ({ type: 'string', minLength, maxLength, pattern: '^[^\\u0000]*$' }) as const;
