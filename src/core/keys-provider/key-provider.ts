/**
 * The root of the key hierarchy. A `KeyProvider` holds the master key and only ever wraps and unwraps
 * other keys with it: the master key itself never leaves the provider, which is what lets an external KMS
 * (AWS KMS Encrypt/Decrypt, GCP Cloud KMS, Vault transit) implement the same interface later without the
 * rest of `keys` changing.
 *
 *     master key (provider) -> named key versions (wrapped in the store) -> data keys (wrapped by a named key)
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { keyProviderError as keysError } from './errors.ts';

/** A source of cryptographically secure random bytes (crypto.randomBytes; injected in tests). */
export type RandomSource = (size: number) => Buffer;

export interface KeyProvider {
  /** `file`, `env`, `passphrase`, or the name of an external KMS. Written in logs; never key material. */
  readonly kind: string;
  /** Encrypts key material; `label` (key name, version, type) is bound as associated data. */
  wrap(material: Uint8Array, label: string): Promise<Buffer>;
  /** Reverses {@link wrap}; fails with `keys_unwrap_failed` for another master key or another label. */
  unwrap(wrapped: Uint8Array, label: string): Promise<Buffer>;
}

const WRAP_FORMAT = 0x01;
const NONCE = 12;
const TAG = 16;
/** HKDF (RFC 5869) info string: the wrapping key is derived, so the master key is used for one purpose. */
const KEK_INFO = 'bulwark keys: key-encryption key v1';

/**
 * A provider around a 32-byte master key held in this process (from a file, an environment variable or a
 * passphrase). Wrapped form: 0x01 || nonce(12) || AES-256-GCM(kek, material, aad=label) || tag(16).
 *
 * @example
 * const provider = new LocalKeyProvider('env', masterKey, randomBytes);
 * const wrapped = await provider.wrap(material, 'key:orders:v1:aes256-gcm');
 */
export class LocalKeyProvider implements KeyProvider {
  readonly kind: string;
  readonly #kek: KeyObject;
  readonly #random: RandomSource;

  constructor(kind: string, masterKey: Uint8Array, random: RandomSource) {
    if (masterKey.byteLength !== 32) {
      throw keysError('keys_master_key_invalid', `the ${kind} master key must be 32 bytes`);
    }
    this.kind = kind;
    this.#kek = createSecretKey(Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), KEK_INFO, 32)));
    this.#random = random;
  }

  async wrap(material: Uint8Array, label: string): Promise<Buffer> {
    const nonce = this.#random(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, nonce, { authTagLength: TAG });
    cipher.setAAD(Buffer.from(label, 'utf8'));
    const body = Buffer.concat([cipher.update(material), cipher.final()]);
    return Buffer.concat([Buffer.of(WRAP_FORMAT), nonce, body, cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Uint8Array, label: string): Promise<Buffer> {
    const bytes = Buffer.from(wrapped);
    if (bytes.byteLength < 1 + NONCE + TAG || bytes[0] !== WRAP_FORMAT) {
      throw keysError('keys_unwrap_failed', `stored key ${label} is not in the wrapped format`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#kek, bytes.subarray(1, 1 + NONCE), {
        authTagLength: TAG,
      });
      decipher.setAAD(Buffer.from(label, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG));
      return Buffer.concat([
        decipher.update(bytes.subarray(1 + NONCE, bytes.byteLength - TAG)),
        decipher.final(),
      ]);
    } catch {
      throw keysError('keys_unwrap_failed', `stored key ${label} does not unwrap with this master key`);
    }
  }
}
