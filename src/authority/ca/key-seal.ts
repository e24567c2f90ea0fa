/**
 * CA private keys at rest. Under `bulwark up` they are sealed by the deployment's master-key provider
 * ({@link ProviderKeySeal}); run alone, by AES-256-GCM under a key derived with scrypt from a passphrase
 * (config or env), or from a random 32-byte key file created 0600 on first start ({@link KeySeal}). The CA id is bound as associated data,
 * so a sealed key copied onto another CA's row does not open. Format: `v1.<salt>.<iv>.<ciphertext+tag>`
 * (base64url parts).
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyProvider } from '../../core/keys-provider/index.ts';
import { authorityError } from '../errors.ts';

/** scrypt cost: N = 2^15, r = 8, p = 1 (RFC 7914 §2; OWASP's minimum for scrypt). */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_BYTES = 32;
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit IVs, random, never reused under one key
const TAG_BYTES = 16;

/** How the CA private keys are sealed at rest: by the deployment's master key, or by {@link KeySeal}. */
export interface CaKeySeal {
  seal(plaintext: string, caId: string): Promise<string>;
  unseal(sealed: string, caId: string): Promise<string>;
}

/**
 * CA keys sealed by the master-key provider that is also the root of `keys`' hierarchy (one root secret
 * for the deployment; an external KMS later seals both). Format `v2.<base64url(provider wrap)>`, the CA id
 * bound as the wrap label. Keys sealed earlier by {@link KeySeal} (`v1.`) still open through `legacy`.
 */
export class ProviderKeySeal implements CaKeySeal {
  readonly #provider: KeyProvider;
  readonly #legacy: () => KeySeal;

  constructor(provider: KeyProvider, legacy: () => KeySeal) {
    this.#provider = provider;
    this.#legacy = legacy;
  }

  async seal(plaintext: string, caId: string): Promise<string> {
    const wrapped = await this.#provider.wrap(Buffer.from(plaintext, 'utf8'), label(caId));
    return `v2.${wrapped.toString('base64url')}`;
  }

  async unseal(sealed: string, caId: string): Promise<string> {
    if (!sealed.startsWith('v2.')) return this.#legacy().unseal(sealed, caId);
    try {
      const plain = await this.#provider.unwrap(Buffer.from(sealed.slice(3), 'base64url'), label(caId));
      return plain.toString('utf8');
    } catch (cause) {
      throw authorityError('authority_key_sealed', `the key of CA ${caId} cannot be unsealed`, { cause });
    }
  }
}

const label = (caId: string) => `bulwark-authority-ca:${caId}`;

export class KeySeal implements CaKeySeal {
  readonly #secret: Buffer;
  readonly #keys = new Map<string, Buffer>();

  constructor(secret: Buffer) {
    if (secret.length < 16) throw new TypeError('the sealing secret must have at least 16 bytes');
    this.#secret = secret;
  }

  /** From the passphrase when given, else from the key file (created when missing). */
  static open(passphrase: string | null, keyFile: string): KeySeal {
    if (passphrase) return new KeySeal(Buffer.from(passphrase, 'utf8'));
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
      writeFileSync(keyFile, randomBytes(KEY_BYTES).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    chmodSync(keyFile, 0o600);
    return new KeySeal(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64'));
  }

  async seal(plaintext: string, caId: string): Promise<string> {
    return this.sealSync(plaintext, caId);
  }

  async unseal(sealed: string, caId: string): Promise<string> {
    return this.unsealSync(sealed, caId);
  }

  sealSync(plaintext: string, caId: string): string {
    const salt = randomBytes(16);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key(salt), iv);
    cipher.setAAD(Buffer.from(`bulwark-authority-ca:${caId}`));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return ['v1', salt, iv, body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  unsealSync(sealed: string, caId: string): string {
    const [version, salt, iv, body] = sealed.split('.');
    try {
      if (version !== 'v1' || !salt || !iv || !body) throw new Error('unknown sealed key format');
      const bytes = Buffer.from(body, 'base64url');
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.#key(Buffer.from(salt, 'base64url')),
        Buffer.from(iv, 'base64url'),
      );
      decipher.setAAD(Buffer.from(`bulwark-authority-ca:${caId}`));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch (cause) {
      throw authorityError('authority_key_sealed', `the key of CA ${caId} cannot be unsealed`, { cause });
    }
  }

  #key(salt: Buffer): Buffer {
    const id = salt.toString('hex');
    let key = this.#keys.get(id);
    if (!key) {
      key = scryptSync(this.#secret, salt, KEY_BYTES, SCRYPT);
      this.#keys.set(id, key);
    }
    return key;
  }
}
