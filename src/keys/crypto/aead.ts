/**
 * The two AEADs of named keys, both from vetted code: AES-256-GCM from `node:crypto` (OpenSSL) and
 * AES-256-GCM-SIV (RFC 8452) from `@noble/ciphers` for the deterministic mode. Nothing here invents an IV
 * scheme: GCM gets a fresh random 96-bit nonce per message, GCM-SIV a fixed nonce, which RFC 8452 §9
 * allows (nonce reuse only reveals that two plaintexts with the same associated data are equal, which is
 * exactly what a searchable field wants).
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { gcmsiv } from '@noble/ciphers/aes.js';
import { keysError } from '../errors.ts';

export const ALG_AES_256_GCM = 0x01;
export const ALG_AES_256_GCM_SIV = 0x02;
/** NIST SP 800-38D §8.2.2: 96-bit random IV. */
export const GCM_NONCE_BYTES = 12;
/** NIST SP 800-38D §5.2.1.2: full 128-bit tag, never truncated. */
export const TAG_BYTES = 16;
const SIV_NONCE = new Uint8Array(12);

/** Seals with AES-256-GCM; `nonce` must be 12 fresh random bytes. Returns the payload (alg || nonce || ct || tag). */
export function sealGcm(key: KeyObject, nonce: Uint8Array, aad: Buffer, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const out = Buffer.allocUnsafe(1 + GCM_NONCE_BYTES + plaintext.byteLength + TAG_BYTES);
  out[0] = ALG_AES_256_GCM;
  out.set(nonce, 1);
  const body = cipher.update(plaintext);
  out.set(body, 1 + GCM_NONCE_BYTES);
  cipher.final();
  out.set(cipher.getAuthTag(), 1 + GCM_NONCE_BYTES + body.byteLength);
  return out;
}

/**
 * Opens an AES-256-GCM payload. The plaintext is returned only after `final()` has checked the tag, so a
 * forged or truncated payload never yields partial plaintext.
 */
export function openGcm(key: KeyObject, aad: Buffer, payload: Buffer): Buffer {
  if (payload.byteLength < 1 + GCM_NONCE_BYTES + TAG_BYTES || payload[0] !== ALG_AES_256_GCM) {
    throw keysError('keys_ciphertext_malformed', 'the payload is too short or not AES-256-GCM');
  }
  const tagAt = payload.byteLength - TAG_BYTES;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, payload.subarray(1, 1 + GCM_NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(payload.subarray(tagAt));
    const body = decipher.update(payload.subarray(1 + GCM_NONCE_BYTES, tagAt));
    decipher.final();
    return body;
  } catch {
    throw keysError('keys_decrypt_failed', 'the ciphertext does not authenticate under this key and context');
  }
}

/** Seals with AES-256-GCM-SIV (deterministic: same key, context and plaintext give the same payload). */
export function sealSiv(key: Uint8Array, aad: Buffer, plaintext: Uint8Array): Buffer {
  const sealed = gcmsiv(key, SIV_NONCE, aad).encrypt(plaintext);
  const out = Buffer.allocUnsafe(1 + sealed.byteLength);
  out[0] = ALG_AES_256_GCM_SIV;
  out.set(sealed, 1);
  return out;
}

export function openSiv(key: Uint8Array, aad: Buffer, payload: Buffer): Buffer {
  if (payload.byteLength < 1 + TAG_BYTES || payload[0] !== ALG_AES_256_GCM_SIV) {
    throw keysError('keys_ciphertext_malformed', 'the payload is too short or not AES-256-GCM-SIV');
  }
  try {
    return Buffer.from(gcmsiv(key, SIV_NONCE, aad).decrypt(payload.subarray(1)));
  } catch {
    throw keysError('keys_decrypt_failed', 'the ciphertext does not authenticate under this key and context');
  }
}
