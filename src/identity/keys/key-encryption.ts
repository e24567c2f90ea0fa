/**
 * Encryption at rest for the identity component's secrets (signing keys, TOTP seeds): AES-256-GCM under a
 * key-encryption key (KEK). The KEK comes from the `keyPassphrase` setting (given through
 * `BULWARK_COMPONENTS__IDENTITY__KEY_PASSPHRASE`; scrypt, salted per home) or,
 * when that is not set, from a random 32-byte file `<home>/identity/kek` (0600) created on first start. The
 * `keys` component will replace this with envelope encryption through its key-provider interface.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const VERSION = 'v1';
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit IVs for GCM
const TAG_BYTES = 16;

export interface SecretBox {
  /** Encrypts `plain`; `context` is bound as additional data so a ciphertext cannot be moved to another row. */
  seal(plain: string, context: string): string;
  open(sealed: string, context: string): string;
  /** A sub-key for another purpose (cookie signing, device cookies), derived with HKDF. */
  derive(purpose: string, bytes?: number): Buffer;
}

export function createSecretBox(kek: Buffer): SecretBox {
  if (kek.length !== 32) throw new TypeError('the key-encryption key must be 32 bytes');
  const encKey = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'bulwark identity at-rest v1', 32));
  return {
    seal(plain, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', encKey, iv);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [
        VERSION,
        iv.toString('base64url'),
        Buffer.concat([body, cipher.getAuthTag()]).toString('base64url'),
      ].join('.');
    },
    open(sealed, context) {
      const [version, iv, data] = sealed.split('.');
      if (version !== VERSION || !iv || !data) throw new TypeError('not a sealed value');
      const raw = Buffer.from(data, 'base64url');
      // NIST SP 800-38D §5.2.1.2: a shorter tag is a prefix of the full one, so accepting it would let a
      // truncated value pass with far less than 128 bits of integrity; only full 16-byte tags are read.
      if (raw.length < TAG_BYTES) throw new TypeError('not a sealed value');
      const decipher = createDecipheriv('aes-256-gcm', encKey, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(raw.subarray(0, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    },
    derive(purpose, bytes = 32) {
      return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), `bulwark identity ${purpose}`, bytes));
    },
  };
}

/** Loads (or creates) the KEK for a data directory. */
export function loadKek(home: string, passphrase: string | null): Buffer {
  const dir = join(home, 'identity');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (passphrase) {
    const saltPath = join(dir, 'kek.salt');
    if (!existsSync(saltPath)) writeFileSync(saltPath, randomBytes(16), { mode: 0o600, flag: 'wx' });
    // scrypt N=2^15, r=8, p=1: RFC 7914 parameters above OWASP's minimum for key derivation.
    return scryptSync(passphrase, readFileSync(saltPath), 32, {
      N: 2 ** 15,
      r: 8,
      p: 1,
      maxmem: 64 * 1024 * 1024,
    });
  }
  const path = join(dir, 'kek');
  if (!existsSync(path)) {
    try {
      writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const kek = readFileSync(path);
  if (kek.length !== 32) throw new TypeError(`${path} must hold exactly 32 bytes`);
  return kek;
}
