/**
 * The stored form of one personal-data value in an audit record, encrypted for crypto-shredding:
 *
 *     bulwark:pii1:<role>:<wrapped data key>.<base64url(nonce(12) || ciphertext || tag(16))>
 *
 * - `role` says whose key: `a` the record's actor, `t` its target (a user the record is about).
 * - the data key (AES-256, per subject, cached for a while by the writer) is wrapped by `keys` under the
 *   subject's key (`/v1/subjects/encrypt`), text `bulwark:v1:<base64url>` — no `.` in it.
 * - the value is the JSON of the original value, AES-256-GCM (NIST SP 800-38D, random 96-bit nonce), with
 *   associated data naming the record id, the role and the field path (RFC 5116 §2.1): a value copied to
 *   another record or field does not decrypt.
 *
 * The Merkle leaf hashes this text, so proofs never need the key; erasing the subject key in `keys` makes
 * the wrapped data key, and with it every value, unreadable for good.
 */
import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto';

export const PII_PREFIX = 'bulwark:pii1:';
/** What a reader sees in place of a value whose subject key was erased. */
export const ERASED_MARKER = '[erased]';
/** What a reader sees for a value that does not authenticate (copied from another record, or tampered). */
export const UNREADABLE_MARKER = '[unreadable]';

const NONCE = 12;
const TAG = 16;

export type SubjectRole = 'a' | 't';

export interface ParsedPii {
  role: SubjectRole;
  wrapped: string;
  payload: Buffer;
}

/** Associated data: the record id, the role and the path segments, as unambiguous JSON. */
function aad(recordId: string, role: SubjectRole, path: readonly (string | number)[]): Buffer {
  return Buffer.from(`bulwark:audit-pii:v1\n${JSON.stringify([recordId, role, ...path])}`, 'utf8');
}

export function isSealedPii(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PII_PREFIX);
}

export function sealPii(
  key: KeyObject,
  wrapped: string,
  role: SubjectRole,
  recordId: string,
  path: readonly (string | number)[],
  value: unknown,
  random: (size: number) => Buffer = randomBytes,
): string {
  const nonce = random(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad(recordId, role, path));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const payload = Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  return `${PII_PREFIX}${role}:${wrapped}.${payload}`;
}

/** Splits a stored value; undefined when it is not in this format. */
export function parsePii(value: string): ParsedPii | undefined {
  if (!value.startsWith(PII_PREFIX)) return undefined;
  const role = value[PII_PREFIX.length];
  const dot = value.lastIndexOf('.');
  if ((role !== 'a' && role !== 't') || value[PII_PREFIX.length + 1] !== ':' || dot < 0) return undefined;
  const wrapped = value.slice(PII_PREFIX.length + 2, dot);
  const payload = Buffer.from(value.slice(dot + 1), 'base64url');
  if (!wrapped || payload.byteLength < NONCE + TAG) return undefined;
  return { role, wrapped, payload };
}

/** Decrypts a parsed value; undefined when it does not authenticate under this record id and path. */
export function openPii(
  key: KeyObject,
  parsed: ParsedPii,
  recordId: string,
  path: readonly (string | number)[],
): unknown {
  try {
    const { payload } = parsed;
    const decipher = createDecipheriv('aes-256-gcm', key, payload.subarray(0, NONCE), {
      authTagLength: TAG,
    });
    decipher.setAAD(aad(recordId, parsed.role, path));
    decipher.setAuthTag(payload.subarray(payload.byteLength - TAG));
    const text = Buffer.concat([
      decipher.update(payload.subarray(NONCE, payload.byteLength - TAG)),
      decipher.final(),
    ]).toString('utf8');
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
