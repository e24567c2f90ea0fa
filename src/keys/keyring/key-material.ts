/**
 * Making and loading the secret of one key version. Generated from the injected random source (Ed25519
 * from node's key generator, which draws from the same CSPRNG); the secret is only ever held here as a
 * KeyObject or bytes, and leaves this process only wrapped by the master key.
 */
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import type { KeyType } from './key-types.ts';

/** A key version ready for use. */
export interface LoadedVersion {
  version: number;
  type: KeyType;
  /** AES-GCM and HMAC keys, and Ed25519 private keys. */
  key: KeyObject;
  /** AES-GCM-SIV key bytes (the library takes raw bytes). */
  raw: Uint8Array | null;
  publicKey: KeyObject | null;
  /** `bulwark:<name>:v<version>:<type>`: prefixes the associated data, so a ciphertext stays with its key. */
  aadPrefix: string;
}

export interface NewMaterial {
  secret: Buffer;
  publicKey: Buffer | null;
}

export function generateMaterial(type: KeyType, random: (size: number) => Buffer): NewMaterial {
  if (type === 'ed25519') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return {
      secret: privateKey.export({ format: 'der', type: 'pkcs8' }),
      publicKey: publicKey.export({ format: 'der', type: 'spki' }),
    };
  }
  return { secret: random(32), publicKey: null };
}

/** The label bound to a wrapped version: moving wrapped material to another key or version fails to unwrap. */
export function wrapLabel(name: string, version: number, type: KeyType): string {
  return `key:${name}:v${version}:${type}`;
}

export function loadMaterial(
  name: string,
  version: number,
  type: KeyType,
  secret: Buffer,
  publicKey: Buffer | null,
): LoadedVersion {
  const aadPrefix = `bulwark:${name}:v${version}:${type}\n`;
  if (type === 'ed25519') {
    const key = createPrivateKey({ key: secret, format: 'der', type: 'pkcs8' });
    return {
      version,
      type,
      key,
      raw: null,
      publicKey: publicKey
        ? createPublicKey({ key: publicKey, format: 'der', type: 'spki' })
        : createPublicKey(key),
      aadPrefix,
    };
  }
  return {
    version,
    type,
    key: createSecretKey(secret),
    raw: type === 'aes256-gcm-siv' ? new Uint8Array(secret) : null,
    publicKey: null,
    aadPrefix,
  };
}
