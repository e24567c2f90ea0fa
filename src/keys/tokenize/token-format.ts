/**
 * Token shapes. A token is random (never derived from the value), so it reveals nothing without the vault.
 * - `random`: `tok_` + 144 random bits in base64url;
 * - `card`: a 13-19 digit string of the card's length that keeps its last `keepLast` digits (PCI DSS
 *   allows showing the last four) and is made Luhn-invalid, so no token can pass for a real card number;
 * - `digits`: any digit string, same length, keeping the last `keepLast` digits.
 */

import type { RandomSource } from '../../core/keys-provider/index.ts';
import { keysError } from '../errors.ts';

export const TOKEN_FORMATS = ['random', 'card', 'digits'] as const;
export type TokenFormat = (typeof TOKEN_FORMATS)[number];

export interface TokenRequest {
  value: string;
  format: TokenFormat;
  /** Digits kept from the end of the value (`card`, `digits`); 0-4, default 4 for `card`, 0 for `digits`. */
  keepLast?: number;
}

export function makeToken(request: TokenRequest, random: RandomSource): string {
  if (request.format === 'random') return `tok_${random(18).toString('base64url')}`;
  const digits = request.value.replace(/[ -]/g, '');
  const valid = request.format === 'card' ? /^\d{13,19}$/ : /^\d{1,64}$/;
  if (!valid.test(digits)) {
    throw keysError(
      'keys_token_format',
      `a ${request.format} token needs ${request.format === 'card' ? '13-19' : '1-64'} digits`,
    );
  }
  const keep = request.keepLast ?? (request.format === 'card' ? 4 : 0);
  if (!Number.isInteger(keep) || keep < 0 || keep > 4 || keep >= digits.length - 1) {
    throw keysError('keys_token_format', 'keep_last must be 0-4 and leave at least two random digits');
  }
  const randomPart = randomDigits(digits.length - keep, random);
  let token = randomPart + digits.slice(digits.length - keep);
  if (request.format === 'card' && luhn(token)) {
    // Changing one digit by one always changes the Luhn sum, so the result is invalid.
    const first = (Number(token[0]) + 1) % 10;
    token = String(first) + token.slice(1);
  }
  return token;
}

/** Uniform random digits by rejection sampling (bytes >= 250 are dropped, so no digit is favoured). */
function randomDigits(count: number, random: RandomSource): string {
  let out = '';
  while (out.length < count) {
    for (const byte of random(count * 2)) {
      if (byte < 250 && out.length < count) out += String(byte % 10);
    }
  }
  return out;
}

/** The Luhn (mod 10) check of ISO/IEC 7812-1. */
export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
