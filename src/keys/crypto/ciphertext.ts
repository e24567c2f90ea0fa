/**
 * The self-describing text form of everything `keys` outputs (ciphertexts, MACs, signatures):
 *
 *     bulwark:v<version>:<base64url(payload)>
 *
 * `version` is the key version (1..2^31-1) that produced it, so decryption picks the right version without
 * trying each one, and rotation never needs the ciphertext to be re-read. For encryption the payload is
 *
 *     byte 0        algorithm id: 0x01 AES-256-GCM, 0x02 AES-256-GCM-SIV (deterministic)
 *     0x01:  bytes 1..12  nonce (96 bits, random; NIST SP 800-38D §8.2.2)
 *            then         ciphertext (same length as the plaintext) || 16-byte tag
 *     0x02:  bytes 1..     ciphertext || 16-byte tag (nonce fixed to zero, RFC 8452 §9 deterministic use)
 *
 * MACs and signatures carry the raw tag or signature as payload (no algorithm byte: the key type says).
 */
import { keysError } from '../errors.ts';

export const PREFIX = 'bulwark:v';
export const MAX_VERSION = 2 ** 31 - 1;
/** Base64url without padding (RFC 4648 §5). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export interface ParsedCiphertext {
  version: number;
  payload: Buffer;
}

/** Formats a payload; `version` must be a valid key version. */
export function formatCiphertext(version: number, payload: Uint8Array): string {
  return `${PREFIX}${version}:${Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64url')}`;
}

/** Parses the text form; anything off-format is `keys_ciphertext_malformed` (never a decryption attempt). */
export function parseCiphertext(text: unknown): ParsedCiphertext {
  if (typeof text !== 'string' || !text.startsWith(PREFIX)) {
    throw keysError('keys_ciphertext_malformed', 'expected bulwark:v<version>:<base64url>');
  }
  const colon = text.indexOf(':', PREFIX.length);
  const digits = colon < 0 ? '' : text.slice(PREFIX.length, colon);
  if (!/^[1-9][0-9]{0,9}$/.test(digits) || Number(digits) > MAX_VERSION) {
    throw keysError(
      'keys_ciphertext_malformed',
      'the version in the ciphertext prefix is not a valid number',
    );
  }
  const body = text.slice(colon + 1);
  // Node's base64url decoder skips stray characters and ignores non-zero trailing bits; accept only the
  // canonical encoding (RFC 4648 §3.5) so that two different texts never decode to the same bytes.
  const payload = BASE64URL.test(body) ? Buffer.from(body, 'base64url') : undefined;
  if (!payload || payload.toString('base64url') !== body) {
    throw keysError('keys_ciphertext_malformed', 'the ciphertext body is not canonical base64url');
  }
  return { version: Number(digits), payload };
}
