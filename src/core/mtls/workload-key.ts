/**
 * The workload's own key pair and CSR (RFC 2986). The private key is generated here and never leaves the
 * process: the authority only sees the CSR, whose signature proves possession.
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface WorkloadKey {
  /** PEM PKCS#8, for node:tls. */
  privateKeyPem: string;
  /** PEM PKCS#10 request carrying the public key. */
  csrPem: string;
}

/**
 * @example
 * const { privateKeyPem, csrPem } = await createWorkloadKey();
 */
export async function createWorkloadKey(): Promise<WorkloadKey> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=Bulwark',
    keys,
    signingAlgorithm: EC_P256,
  });
  return {
    privateKeyPem: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
    csrPem: csr.toString('pem'),
  };
}
