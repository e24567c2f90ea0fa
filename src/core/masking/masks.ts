/**
 * Masks for sensitive values: each keeps just enough to recognise a value (the last four digits, the
 * e-mail domain) and replaces the rest. Pure functions, no state: the gateway applies them to responses
 * and the log redactor to log fields. A value that does not have the expected shape is masked whole, so a
 * malformed value never leaks through a partial mask.
 */

export const MASK_KINDS = ['ssn', 'card', 'email', 'phone', 'last4', 'full'] as const;
export type MaskKind = (typeof MASK_KINDS)[number];

export const FULL_MASK = '[MASKED]';
const STAR = '*';

/** `123-45-6789` -> `***-**-6789` (US SSN, also written without dashes). */
export function maskSsn(value: string): string {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^\d{9}$/.test(digits)) return FULL_MASK;
  return `***-**-${digits.slice(5)}`;
}

/**
 * `4111 1111 1111 1111` -> `**** **** **** 1111`: separators are kept, every digit but the last four is
 * starred (PCI DSS 4.0 req. 3.4.1 allows at most the first six and last four; we keep only the last four).
 */
export function maskCard(value: string): string {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(digits) || !/^[\d\s-]+$/.test(value)) return FULL_MASK;
  let seen = 0;
  const keepFrom = digits.length - 4;
  return value.replace(/\d/g, (d) => (seen++ >= keepFrom ? d : STAR));
}

/** `alice@example.com` -> `a****@example.com`. */
export function maskEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 1 || at === value.length - 1) return FULL_MASK;
  return `${value[0]}${STAR.repeat(Math.max(4, at - 1))}${value.slice(at)}`;
}

/** `+1 415 555 0123` -> `+* *** *** 0123`: only the last four digits are kept. */
export function maskPhone(value: string): string {
  const digits = value.replace(/\D/g, '');
  if (digits.length < 7 || !/^[\d\s()+.-]+$/.test(value)) return FULL_MASK;
  return maskLastDigits(value, 4);
}

/** Any value: every character but the last four becomes `*` (values of 8 characters or less are masked whole). */
export function maskLast4(value: string): string {
  if (value.length <= 8) return FULL_MASK;
  return STAR.repeat(value.length - 4) + value.slice(-4);
}

function maskLastDigits(value: string, keep: number): string {
  const total = value.replace(/\D/g, '').length;
  let seen = 0;
  return value.replace(/\d/g, (d) => (seen++ >= total - keep ? d : STAR));
}

export function maskValue(kind: MaskKind, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') return FULL_MASK;
  const text = String(value);
  switch (kind) {
    case 'ssn':
      return maskSsn(text);
    case 'card':
      return maskCard(text);
    case 'email':
      return maskEmail(text);
    case 'phone':
      return maskPhone(text);
    case 'last4':
      return maskLast4(text);
    default:
      return FULL_MASK;
  }
}
