/**
 * What may not enter the log as given. Secrets (by key name or by the shape of the value: JWTs, PEM
 * private keys, bearer credentials, cloud access keys) are refused, since a log kept for years is the worst
 * place for a credential (OWASP Logging Cheat Sheet, "Data to exclude"). Personal data is pseudonymised
 * with a keyed hash (so a dictionary of e-mail addresses cannot reverse it) or masked.
 */
import { createHmac } from 'node:crypto';
import { auditError } from '../errors.ts';

const SECRET_VALUE =
  /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bgh[pousr]_[A-Za-z0-9]{30,}/;

const normalise = (key: string) => key.toLowerCase().replace(/[^a-z0-9]/g, '');

/** The form keys are compared in (case, `-` and `_` insensitive), for the lists of {@link SensitivePolicy}. */
export const normaliseKey = normalise;

export interface SensitivePolicy {
  secretKeys: ReadonlySet<string>;
  hashKeys: ReadonlySet<string>;
  maskKeys: ReadonlySet<string>;
  /** Key of the pseudonymising HMAC. */
  pepper: Buffer;
  /**
   * Keys whose values are personal data encrypted under the data subject's key (crypto-shredding). They
   * are left in clear here, checked for secrets only; set only by `PiiShredder` (src/audit/shred), which
   * seals every such value before a record leaves it. Takes precedence over `hashKeys` and `maskKeys`.
   */
  encryptKeys?: ReadonlySet<string>;
}

export function sensitivePolicy(
  lists: { secretKeys: string[]; hashKeys: string[]; maskKeys: string[] },
  pepper: Buffer,
): SensitivePolicy {
  return {
    secretKeys: new Set(lists.secretKeys.map(normalise)),
    hashKeys: new Set(lists.hashKeys.map(normalise)),
    maskKeys: new Set(lists.maskKeys.map(normalise)),
    pepper,
  };
}

/** Throws `audit_secret_refused` naming the field when a string value looks like a credential. */
export function refuseSecretValue(value: string, path: string): void {
  if (value.length >= 16 && SECRET_VALUE.test(value)) {
    throw auditError(
      'audit_secret_refused',
      `${path} looks like a credential; audit records must not carry secrets`,
      {
        details: { field: path },
      },
    );
  }
}

/** Pseudonym of a personal-data value: stable for correlation, useless without the log's key. */
export function pseudonym(value: unknown, pepper: Buffer): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `hmac-sha256:${createHmac('sha256', pepper).update(text).digest('base64url').slice(0, 22)}`;
}

export function mask(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // By code points: the last four UTF-16 units could start with the low half of a surrogate pair, a lone
  // surrogate the record schema refuses (no RFC 8785 canonical form, U+FFFD to other verifiers).
  const chars = [...text];
  return chars.length <= 4 ? '****' : `****${chars.slice(-4).join('')}`;
}

const MAX_DEPTH = 8;

function tooDeep(path: string): never {
  throw auditError('audit_schema', `${path} is nested deeper than ${MAX_DEPTH} levels`, {
    details: { field: path },
  });
}

/**
 * The depth limit for a value that is pseudonymised or masked whole instead of walked: serialising an
 * unbounded nesting overflows the stack (a 500 the client would retry and spool forever, not a 400).
 */
function checkDepth(value: unknown, path: string, depth: number): void {
  if (typeof value === 'string') wellFormed(value, path);
  if (value === null || typeof value !== 'object') return;
  if (depth > MAX_DEPTH) tooDeep(path);
  if (Array.isArray(value))
    for (let i = 0; i < value.length; i++) checkDepth(value[i], `${path}[${i}]`, depth + 1);
  else for (const [k, v] of Object.entries(value)) checkDepth(v, `${path}.${k}`, depth + 1);
}

/**
 * RFC 8785 §3.2.2.2 (and I-JSON, RFC 7493 §2.1): text with an unpaired surrogate has no canonical form. It
 * would also reach UTF-8 (search terms, pseudonyms) as U+FFFD, so different values would collide there.
 */
export const UNPAIRED_SURROGATE = 'holds an unpaired UTF-16 surrogate, which is not Unicode text';

/** Refuses text with an unpaired surrogate, naming `path`. */
function wellFormed(text: string, path: string): void {
  if (!text.isWellFormed())
    throw auditError('audit_schema', `${path} ${UNPAIRED_SURROGATE}`, { details: { field: path } });
}

/**
 * Walks `details`, refusing secrets and replacing personal data; returns a new object (the input is not
 * changed, so nothing is half-applied when a later field is refused).
 */
export function protectDetails(value: unknown, policy: SensitivePolicy, path: string, depth = 0): unknown {
  if (depth > MAX_DEPTH) tooDeep(path);
  if (typeof value === 'string') {
    wellFormed(value, path);
    refuseSecretValue(value, path);
    return value;
  }
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw auditError('audit_schema', `${path} must be a finite number`, { details: { field: path } });
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => protectDetails(v, policy, `${path}[${i}]`, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      // A key can be a credential too (a map of sessions by token): refused, named by its parent only.
      if (key.length >= 16 && SECRET_VALUE.test(key)) {
        throw auditError(
          'audit_secret_refused',
          `${path} has a key that looks like a credential; audit records must not carry secrets`,
          { details: { field: path } },
        );
      }
      wellFormed(key, path);
      const at = `${path}.${key}`;
      const n = normalise(key);
      if (key.length > 128)
        throw auditError('audit_schema', `${path} has a key longer than 128 characters`, {
          details: { field: path },
        });
      if (policy.secretKeys.has(n)) {
        throw auditError('audit_secret_refused', `${at} is a secret; audit records must not carry secrets`, {
          details: { field: at },
        });
      }
      if (policy.encryptKeys?.has(n) && v !== null) out[key] = protectDetails(v, policy, at, depth + 1);
      else if (policy.hashKeys.has(n) && v !== null) {
        checkDepth(v, at, depth + 1);
        out[key] = pseudonym(v, policy.pepper);
      } else if (policy.maskKeys.has(n) && v !== null) {
        checkDepth(v, at, depth + 1);
        out[key] = mask(v);
      } else out[key] = protectDetails(v, policy, at, depth + 1);
    }
    return out;
  }
  throw auditError('audit_schema', `${path} has an unsupported type`, { details: { field: path } });
}
