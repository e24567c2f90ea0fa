/**
 * The log's Ed25519 key: generated on first start into `<home>/audit/log.key` (0600, Go-compatible
 * `PRIVATE+KEY+...` text) with the verifier key beside it in `log.vkey`, which is what outsiders pin.
 * The pseudonymising HMAC key for personal data lives in the same directory.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditError } from '../errors.ts';
import { type NoteSigner, parseSignerKey, signerFromSeed } from '../verifier/signed-note.ts';

export function auditDirectory(home: string): string {
  return join(home, 'audit');
}

function writeAtomic(path: string, data: string | Buffer, mode: number): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, data, { mode });
  renameSync(temp, path);
}

/** Loads the log key, creating it on first start. Refuses a key made for another origin. */
export function loadLogKey(
  home: string,
  origin: string,
  random: (n: number) => Buffer = randomBytes,
): NoteSigner {
  const dir = auditDirectory(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, 'log.key');
  if (!existsSync(keyPath)) {
    const signer = signerFromSeed(origin, random(32));
    const seed = signer.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
    const skey = `PRIVATE+KEY+${origin}+${signer.id.toString('hex')}+${Buffer.concat([Buffer.from([1]), seed]).toString('base64')}`;
    writeAtomic(keyPath, `${skey}\n`, 0o600);
    writeAtomic(join(dir, 'log.vkey'), `${signer.vkey}\n`, 0o644);
    return signer;
  }
  const signer = parseSignerKey(readFileSync(keyPath, 'utf8'));
  if (signer.name !== origin) {
    throw auditError(
      'audit_key_mismatch',
      `the log key in ${keyPath} is for origin ${signer.name}, not ${origin}`,
    );
  }
  return signer;
}

/** The HMAC key used to pseudonymise personal data (32 random bytes, created once). */
export function loadPepper(home: string, random: (n: number) => Buffer = randomBytes): Buffer {
  const dir = auditDirectory(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'pseudonym.key');
  if (!existsSync(path)) writeAtomic(path, random(32), 0o600);
  return readFileSync(path);
}
