/**
 * Builds the configured master-key provider:
 * - `file`: 32 random bytes, base64, in a file readable by the owner only (created on first start);
 * - `env`: 32 bytes, base64, in an environment variable (for containers that receive secrets that way);
 * - `passphrase`: a passphrase from an environment variable stretched with scrypt (RFC 7914), a
 *   memory-hard KDF, with a random salt and the cost parameters kept in `<home>/keys/master.kdf.json`.
 */
import { scrypt as scryptCallback } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { keyProviderError as keysError } from './errors.ts';
import { type KeyProvider, LocalKeyProvider, type RandomSource } from './key-provider.ts';

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export interface MasterKeySettings {
  provider: 'file' | 'env' | 'passphrase';
  /** Key file; null means `<home>/keys/master.key`. */
  file: string | null;
  /** Variable holding the base64 master key (`env`). */
  envVar: string;
  /** Variable holding the passphrase (`passphrase`). */
  passphraseEnvVar: string;
  /** scrypt cost as log2(N); r and p are fixed at 8 and 1 (RFC 7914 §2, OWASP's scrypt figures). */
  scryptLogN: number;
}

export interface ScryptParameters {
  alg: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

const MIN_PASSPHRASE = 16;

export async function loadKeyProvider(
  settings: MasterKeySettings,
  home: string,
  env: NodeJS.ProcessEnv,
  random: RandomSource,
): Promise<KeyProvider> {
  if (settings.provider === 'env') {
    const value = env[settings.envVar];
    if (!value) {
      throw keysError('keys_master_key_invalid', `environment variable ${settings.envVar} is not set`, {
        expose: true,
      });
    }
    return new LocalKeyProvider('env', decodeKey(value, settings.envVar), random);
  }
  if (settings.provider === 'passphrase') {
    const passphrase = env[settings.passphraseEnvVar];
    if (!passphrase || passphrase.length < MIN_PASSPHRASE) {
      throw keysError(
        'keys_master_key_invalid',
        `environment variable ${settings.passphraseEnvVar} must hold a passphrase of at least ${MIN_PASSPHRASE} characters`,
        { expose: true },
      );
    }
    const params = kdfParameters(join(home, 'keys', 'master.kdf.json'), settings.scryptLogN, random);
    return new LocalKeyProvider('passphrase', await deriveMasterKey(passphrase, params), random);
  }
  const path = settings.file ?? join(home, 'keys', 'master.key');
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${random(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  // A key file others can read is a key others have: refuse it rather than use it.
  if ((statSync(path).mode & 0o077) !== 0) {
    throw keysError(
      'keys_master_key_invalid',
      `master key file ${path} is readable by group or others; chmod 600 it`,
      {
        expose: true,
      },
    );
  }
  return new LocalKeyProvider('file', decodeKey(readFileSync(path, 'utf8').trim(), path), random);
}

/** scrypt with N = 2^logN, r = 8, p = 1: 128 * N * r bytes of memory (128 MiB at the default logN 17). */
export function deriveMasterKey(passphrase: string, params: ScryptParameters): Promise<Buffer> {
  return scrypt(passphrase.normalize('NFKC'), Buffer.from(params.salt, 'base64'), 32, {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r,
  });
}

function kdfParameters(path: string, logN: number, random: RandomSource): ScryptParameters {
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as ScryptParameters;
    // A tampered file must not be able to weaken the KDF below the documented floor.
    if (
      stored.alg !== 'scrypt' ||
      !(stored.N >= 2 ** 15) ||
      !(stored.r >= 8) ||
      !(stored.p >= 1) ||
      !stored.salt
    ) {
      throw keysError(
        'keys_master_key_invalid',
        `${path} does not hold scrypt parameters at or above N=2^15, r=8, p=1`,
        {
          expose: true,
        },
      );
    }
    return stored;
  }
  const params: ScryptParameters = {
    alg: 'scrypt',
    N: 2 ** logN,
    r: 8,
    p: 1,
    salt: random(16).toString('base64'),
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(params, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return params;
}

function decodeKey(text: string, where: string): Buffer {
  const key = Buffer.from(text, 'base64');
  if (key.byteLength !== 32) {
    throw keysError(
      'keys_master_key_invalid',
      `${where} must hold 32 bytes in base64 (openssl rand -base64 32)`,
      {
        expose: true,
      },
    );
  }
  return key;
}
