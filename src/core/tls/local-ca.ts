/**
 * The local certificate authority that lets `bulwark up` serve HTTPS on a laptop with no manual step: a
 * P-256 root created once in `<home>/tls/`, and a short-lived server certificate per component for
 * localhost / 127.0.0.1 / ::1. The mesh's `authority` component (SPIFFE SVIDs) builds on the same root.
 * Private keys are written 0600 inside a 0700 directory.
 */
import 'reflect-metadata';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { coreError } from '../errors.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
const CA_LIFETIME_DAYS = 3650;
const LEAF_LIFETIME_DAYS = 30;
/** A leaf with less than this left is replaced at start. */
const LEAF_RENEW_BEFORE_DAYS = 10;

export interface PemPair {
  cert: string;
  key: string;
}

export interface ServerCredentials extends PemPair {
  /** The CA certificate clients should trust. */
  ca: string;
}

const caPaths = (home: string) => ({ cert: join(home, 'tls', 'ca.crt'), key: join(home, 'tls', 'ca.key') });

/** Creates the local CA if it does not exist yet; returns its certificate path. Safe to call concurrently. */
export async function ensureLocalCa(home: string, now: Date = new Date()): Promise<string> {
  const paths = caPaths(home);
  // The certificate is written last: with it present, the key either is there or was sealed into
  // authority's store and removed on purpose (authority `sealLocalRoot`). Never make a second root.
  if (existsSync(paths.cert)) return paths.cert;
  mkdirSync(join(home, 'tls'), { recursive: true, mode: 0o700 });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Bulwark local CA, O=Bulwark',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_LIFETIME_DAYS * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // Key first, certificate last: a reader that sees the certificate can rely on the key being there.
  writeAtomic(paths.key, pkcs8(keys.privateKey), 0o600);
  writeAtomic(paths.cert, cert.toString('pem'), 0o644);
  return paths.cert;
}

/** A server certificate for `name`, issued by the local CA (and re-issued when near expiry). */
export async function localServerCredentials(
  home: string,
  name: string,
  now: Date = new Date(),
): Promise<ServerCredentials> {
  await ensureLocalCa(home, now);
  const paths = caPaths(home);
  const ca = readFileSync(paths.cert, 'utf8');
  const certPath = join(home, 'tls', `${name}.crt`);
  const keyPath = join(home, 'tls', `${name}.key`);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const existing = new x509.X509Certificate(readFileSync(certPath, 'utf8'));
    if (existing.notAfter.getTime() - now.getTime() > LEAF_RENEW_BEFORE_DAYS * DAY) {
      return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), ca };
    }
  }
  if (!existsSync(paths.key)) {
    throw coreError(
      'config_invalid',
      `the local root key is sealed inside authority (sealLocalRoot), so no certificate for ${name} can be made from it: run ${name} under \`bulwark up\` (it then serves an SVID) or set server.tls.certFile and keyFile`,
    );
  }
  const caCert = new x509.X509Certificate(ca);
  const caKey = await importPkcs8(readFileSync(paths.key, 'utf8'));
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}, O=Bulwark`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + LEAF_LIFETIME_DAYS * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const key = pkcs8(keys.privateKey);
  const cert = `${leaf.toString('pem')}\n`;
  writeAtomic(keyPath, key, 0o600);
  writeAtomic(certPath, cert, 0o644);
  return { cert, key, ca };
}

function pkcs8(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function importPkcs8(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']) as Promise<webcrypto.CryptoKey>;
}

function serial(): string {
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random bytes with the top bit cleared.
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return bytes.toString('hex');
}

function writeAtomic(path: string, content: string, mode: number): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, content, { mode });
  renameSync(temp, path);
}
