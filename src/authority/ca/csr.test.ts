import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { publicKeyFromCsr } from './csr.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

async function csr(curve: 'P-256' | 'P-384', hash: 'SHA-256' | 'SHA-384' = 'SHA-256') {
  const alg = { name: 'ECDSA', namedCurve: curve, hash } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return (
    await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: alg })
  ).toString('pem');
}

describe('CSR proof of possession (RFC 2986)', () => {
  it('accepts a P-256 request signed with ecdsa-with-SHA256 and returns its SPKI', async () => {
    const spki = publicKeyFromCsr(await csr('P-256'));
    assert.equal(spki[0], 0x30);
  });

  it('refuses other curves, other hashes, garbage, trailing bytes and oversized input', async () => {
    const refuse = (pem: string) =>
      assert.throws(() => publicKeyFromCsr(pem), { code: 'authority_csr_invalid' });
    refuse(await csr('P-384', 'SHA-384'));
    refuse(await csr('P-256', 'SHA-384'));
    refuse('-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----');
    refuse('not pem');
    refuse(`-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(9000)}\n-----END CERTIFICATE REQUEST-----`);
    const good = await csr('P-256');
    const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    refuse(
      `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.concat([der, Buffer.from([0])]).toString('base64')}\n-----END CERTIFICATE REQUEST-----`,
    );
  });
});
