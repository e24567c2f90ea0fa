/**
 * The CA certificate profiles the authority signs (RFC 5280): a root and an issuing intermediate, ECDSA
 * P-256 with SHA-256. The X.509-SVID leaf, signed on the hot path, is in `svid-encoder.ts`.
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** Backdating absorbs clock skew between the authority and the workloads that verify its certificates. */
const BACKDATE_MS = 30_000;

export interface SignerKey {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

export function generateP256(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

export function exportPkcs8(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function importPkcs8(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']) as Promise<webcrypto.CryptoKey>;
}

/** RFC 5280 §4.1.2.2: a positive serial of at most 20 octets (here 16 random bytes, top bit clear). */
export function randomSerial(random: (size: number) => Buffer): string {
  const bytes = random(16);
  bytes[0]! &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 1; // no leading zero octet, so the hex is the DER value as written
  return bytes.toString('hex');
}

export async function createRoot(
  keys: webcrypto.CryptoKeyPair,
  name: string,
  now: number,
  lifetimeMs: number,
  serial: string,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + lifetimeMs),
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

/** An issuing CA under `parent`; path length 0 so it can sign leaves only (RFC 5280 §4.2.1.9). */
export async function createIntermediate(
  parent: SignerKey,
  publicKey: webcrypto.CryptoKey,
  trustDomain: string,
  now: number,
  lifetimeMs: number,
  serial: string,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=Bulwark mesh intermediate CA, O=Bulwark, OU=${trustDomain}`,
    issuer: parent.cert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + lifetimeMs, parent.cert.notAfter.getTime())),
    signingAlgorithm: EC_P256,
    publicKey,
    signingKey: parent.key,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(parent.cert),
    ],
  });
}
