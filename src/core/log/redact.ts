/**
 * Redaction of secrets and PII, applied to everything before it is written to a log. Two nets:
 * - by key: values under names such as `authorization`, `cookie`, `password`, `token`, `apiKey` are
 *   replaced whatever they look like;
 * - by shape: JWT-shaped strings, bearer credentials, e-mail addresses and card numbers (Luhn-valid runs
 *   of 13-19 digits, RFC-free but PCI DSS's definition of a PAN) are replaced wherever they appear,
 *   including inside messages, URLs and error stacks.
 * Redaction never throws and never mutates its input.
 */

import { type MaskKind, maskValue } from '../masking/index.ts';

export const REDACTED = '[REDACTED]';

/** Keys whose values are always secret (compared lower-case, with `-` and `_` removed). */
const SECRET_KEYS = [
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'passwd',
  'pass',
  'pwd',
  'secret',
  'clientsecret',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'apikey',
  'xapikey',
  'privatekey',
  'passphrase',
  'otp',
  'totp',
  'recoverycode',
  'sessionid',
  'credentials',
  'masterkey',
  'jointoken',
];

// Three base64url segments, the first starting like a JSON object header ('{"' is 'eyJ'). The lookbehind
// lets a match start only where a run of base64url characters starts, which keeps the scan linear on
// hostile input such as "eyJ-eyJ-eyJ-..." (a quadratic regex here would let one request stall a component).
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic|Digest)\s+[A-Za-z0-9._~+/=-]{6,}/gi;
/** Longest string redacted as a whole; longer log strings are cut first (bounds the cost of every scan). */
export const MAX_LOGGED_STRING = 16_384;
// Digit runs (single spaces or dashes allowed between digits) long enough to hold a card number.
// Not inside a longer token (a UUID or hex id holds digit runs that can pass Luhn by chance).
const DIGIT_RUN = /(?<![0-9A-Za-z])\d(?:[ -]?\d){12,}(?![0-9A-Za-z])/g;
// Query parameters that carry credentials (OAuth puts some of them in URLs).
const SECRET_QUERY =
  /([?&](?:access_token|refresh_token|id_token|token|code|client_secret|api_key|apikey|password|key)=)[^&#\s"]*/gi;

export interface Redactor {
  /** A deep copy of `value` with every secret replaced. */
  redact(value: unknown): unknown;
  /** `text` with every secret-shaped substring replaced. */
  redactText(text: string): string;
}

/**
 * @param extraKeys more keys whose values are always replaced (config `log.redactKeys`)
 * @param maskFields keys whose values are masked keeping a recognisable shape, e.g. `ssn` -> `***-**-6789`
 *   (config `log.maskFields`, the same masks the gateway applies to responses)
 */
export function createRedactor(
  extraKeys: readonly string[] = [],
  maskFields: Readonly<Record<string, MaskKind>> = {},
): Redactor {
  const keys = new Set([...SECRET_KEYS, ...extraKeys.map(normaliseKey)]);
  const isSecretKey = (key: string) => keys.has(normaliseKey(key));
  const masks = new Map(Object.entries(maskFields).map(([k, kind]) => [normaliseKey(k), kind]));

  const redact = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === 'string') return redactText(value);
    if (typeof value === 'number' || typeof value === 'bigint') {
      const text = String(value);
      return text.length >= 13 && redactCards(text) !== text ? REDACTED : value;
    }
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return '[Circular]';
    if (depth > 12) return '[Truncated]';
    seen.add(value);
    if (value instanceof Error) return redactError(value, depth, seen);
    if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
    if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
    if (value instanceof Date) return value;
    if (value instanceof Map) return redact(Object.fromEntries(value), depth, seen);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const mask = masks.get(normaliseKey(k));
      if (isSecretKey(k) && v !== null && v !== undefined && v !== '') out[redactText(k)] = REDACTED;
      // The masked form goes through redactText too: a mask never lets a full card number through.
      else if (mask && v !== null && v !== undefined) out[redactText(k)] = redactText(maskValue(mask, v));
      else out[redactText(k)] = redact(v, depth + 1, seen);
    }
    return out;
  };

  const redactError = (err: Error, depth: number, seen: WeakSet<object>) => {
    const out: Record<string, unknown> = { type: err.name, message: redactText(err.message) };
    if (err.stack) out['stack'] = redactText(err.stack);
    const code = (err as { code?: unknown }).code;
    if (code !== undefined) out['code'] = redact(code, depth + 1, seen);
    if (err.cause !== undefined) out['cause'] = redact(err.cause, depth + 1, seen);
    return out;
  };

  return { redact: (value) => redact(value, 0, new WeakSet()), redactText };
}

export function redactText(text: string): string {
  if (text.length < 6) return text;
  if (text.length > MAX_LOGGED_STRING) {
    return `${redactText(text.slice(0, MAX_LOGGED_STRING))}[truncated ${text.length - MAX_LOGGED_STRING} chars]`;
  }
  const shaped = text
    .replace(JWT, REDACTED)
    .replace(BEARER, (_, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(SECRET_QUERY, `$1${REDACTED}`)
    .replace(DIGIT_RUN, redactCards);
  return redactEmails(shaped);
}

const isLocalPart = (c: number) =>
  (c >= 48 && c <= 57) ||
  (c >= 65 && c <= 90) ||
  (c >= 97 && c <= 122) ||
  "!#$%&'*+-/=?^_`{|}~.".includes(String.fromCharCode(c));
const isDomainChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45;

/**
 * Replaces e-mail addresses (RFC 5322 dot-atom local part, at most 64 characters, RFC 5321 §4.5.3.1.1;
 * a domain with at least one dot). Written as a scan from each `@` rather than a regex: the obvious regex
 * backtracks quadratically on long runs of local-part characters, which an attacker controls in a URL.
 */
function redactEmails(text: string): string {
  if (!text.includes('@')) return text;
  let out = '';
  let cursor = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > cursor && at - start < 64 && isLocalPart(text.charCodeAt(start - 1))) start--;
    if (start === at) continue;
    let end = at + 1;
    let dots = 0;
    let label = 0;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (isDomainChar(c)) label++;
      else if (c === 46 && label > 0 && end + 1 < text.length && isDomainChar(text.charCodeAt(end + 1))) {
        dots++;
        label = 0;
      } else break;
      end++;
    }
    if (dots === 0 || label === 0) continue;
    out += `${text.slice(cursor, start)}${REDACTED}`;
    cursor = end;
    at = end - 1;
  }
  return out + text.slice(cursor);
}

/**
 * Replaces every Luhn-valid window of 13-19 digits in a run. Windows, not the whole run: a card number
 * glued to other digits ("order 12 4111111111111111") must not escape because the run as a whole fails.
 */
function redactCards(run: string): string {
  const at: number[] = [];
  for (let i = 0; i < run.length; i++) if (run.charCodeAt(i) >= 48 && run.charCodeAt(i) <= 57) at.push(i);
  const digits = at.map((i) => run[i]).join('');
  const hit = new Uint8Array(digits.length);
  let any = false;
  for (let start = 0; start + 13 <= digits.length; start++) {
    for (let len = 13; len <= 19 && start + len <= digits.length; len++) {
      if (luhn(digits.slice(start, start + len))) {
        hit.fill(1, start, start + len);
        any = true;
      }
    }
  }
  if (!any) return run;
  let out = '';
  let cursor = 0;
  for (let d = 0; d < digits.length; ) {
    if (!hit[d]) {
      d++;
      continue;
    }
    let end = d;
    while (end + 1 < digits.length && hit[end + 1]) end++;
    out += run.slice(cursor, at[d]) + REDACTED;
    cursor = at[end]! + 1;
    d = end + 1;
  }
  return out + run.slice(cursor);
}

/** The Luhn (mod 10) check digit test used by payment card numbers (ISO/IEC 7812-1). */
export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}
