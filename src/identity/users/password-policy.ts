/**
 * NIST SP 800-63B §3.1.1.2 (rev. 4) password rules: length over composition, no composition rules, at
 * least 15 characters when the password is the only factor and 8 when MFA protects the account, at least
 * 64 allowed, Unicode normalised (NFKC) and counted in code points, and refused when it appears in a list
 * of common or breached passwords, is repetitive or sequential, or contains context words (username,
 * e-mail, the service name).
 */
import { readFileSync } from 'node:fs';
import { identityError } from '../errors.ts';

export const MIN_LENGTH_SINGLE_FACTOR = 15;
export const MIN_LENGTH_WITH_MFA = 8;
export const MAX_LENGTH = 256;

let blocklist: Set<string> | undefined;

/** The shipped list (users/common-passwords.txt), lower-cased. */
export function commonPasswords(): Set<string> {
  blocklist ??= new Set(
    readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
      .split('\n')
      .map((l) => l.trim().toLowerCase())
      .filter((l) => l && !l.startsWith('#')),
  );
  return blocklist;
}

export interface PasswordContext {
  username?: string;
  email?: string | null;
  /** Whether the account will have a second factor (lowers the minimum length to 8). */
  mfa: boolean;
}

/** Returns the reason the password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, context: PasswordContext): string | null {
  const normalized = password.normalize('NFKC');
  const length = [...normalized].length;
  const min = context.mfa ? MIN_LENGTH_WITH_MFA : MIN_LENGTH_SINGLE_FACTOR;
  if (length < min)
    return `must have at least ${min} characters${context.mfa ? '' : ' (8 once MFA is enabled)'}`;
  if (length > MAX_LENGTH) return `must have at most ${MAX_LENGTH} characters`;
  const lower = normalized.toLowerCase();
  const list = commonPasswords();
  // "Password123!" is "password" with decoration: strip trailing digits and symbols before the lookup.
  const stem = lower.replace(/[\d\W_]+$/u, '');
  if (list.has(lower) || (stem.length >= 4 && list.has(stem))) return 'is a common or breached password';
  if (/^(.)\1+$/u.test(lower) || /^(.{1,4})\1{2,}$/u.test(lower)) return 'is repetitive';
  if (isSequential(lower)) return 'is a sequence';
  const words = [context.username, context.email?.split('@')[0], 'bulwark'].filter(
    (w): w is string => typeof w === 'string' && w.length >= 4,
  );
  if (words.some((w) => lower.includes(w.toLowerCase())))
    return 'contains the username, e-mail or service name';
  return null;
}

export function assertPasswordAcceptable(password: string, context: PasswordContext): void {
  const problem = passwordProblem(password, context);
  if (problem) throw identityError('identity_password_policy', `the password ${problem}`);
}

function isSequential(text: string): boolean {
  const codes = [...text].map((c) => c.codePointAt(0)!);
  const step = codes[1]! - codes[0]!;
  if (Math.abs(step) !== 1) return false;
  return codes.every((c, i) => i === 0 || c - codes[i - 1]! === step);
}
