/**
 * Certificates an attacker might present, made directly with @peculiar/x509: signed by the real local
 * root (whose key a test can read) but breaking an SVID rule, or signed by a CA nobody trusts.
 */
import 'reflect-metadata';
import type { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import {
  createRoot,
  EC_P256,
  exportPkcs8,
  generateP256,
  importPkcs8,
} from '../../src/authority/ca/x509-profiles.ts';

export interface ForgedFiles {
  cert: string;
  key: string;
}

const dir = mkdtempSync(join(tmpdir(), 'bulwark-forge-'));
let n = 0;

/** Writes PEM files for curl / openssl and returns their paths. */
export function writePair(certPem: string, keyPem: string): ForgedFiles {
  n++;
  const cert = join(dir, `c${n}.pem`);
  const key = join(dir, `k${n}.pem`);
  writeFileSync(cert, certPem);
  writeFileSync(key, keyPem, { mode: 0o600 });
  return { cert, key };
}

export async function localRootSigner(home: string) {
  return {
    cert: new x509.X509Certificate(readFileSync(join(home, 'tls', 'ca.crt'), 'utf8')),
    key: await importPkcs8(readFileSync(join(home, 'tls', 'ca.key'), 'utf8')),
  };
}

export async function foreignRootSigner() {
  const keys = await generateP256();
  const cert = await createRoot(keys, 'CN=Evil CA', Date.now(), 86_400_000, '0badca');
  return { cert, key: keys.privateKey };
}

/** A leaf under `issuer` with the given URI SANs and validity, otherwise shaped like an SVID. */
export async function forgeLeaf(
  issuer: { cert: x509.X509Certificate; key: webcrypto.CryptoKey },
  options: { uris: string[]; notBefore?: Date; notAfter?: Date },
): Promise<ForgedFiles> {
  const keys = await generateP256();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: `01${Math.floor(Math.random() * 1e12).toString(16)}`,
    subject: 'O=Forged',
    issuer: issuer.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: options.notAfter ?? new Date(Date.now() + 3_600_000),
    signingAlgorithm: EC_P256,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(
        options.uris.map((value) => ({ type: 'url' as const, value })),
        true,
      ),
    ],
  });
  return writePair(leaf.toString('pem'), exportPkcs8(keys.privateKey));
}
