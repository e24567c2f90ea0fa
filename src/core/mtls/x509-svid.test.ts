/**
 * The fast X.509-SVID check against a reference built on @peculiar/x509's full ASN.1 model, on generated
 * certificates (differential property): both must accept and reject the same certificates.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { isSpiffeId } from './spiffe-id.ts';
import { inspectX509Svid } from './x509-svid.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

/** The rules, written against the full object model. */
function reference(pem: string): string | null {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url') ?? [];
  if (uris.length !== 1 || !isSpiffeId(uris[0]!.value)) return null;
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) return null;
  const usage = cert.getExtension(x509.KeyUsagesExtension)?.usages;
  if (usage === undefined || !(usage & x509.KeyUsageFlags.digitalSignature)) return null;
  if (usage & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) return null;
  return uris[0]!.value;
}

const uri = fc.oneof(
  fc.constantFrom(
    'spiffe://bulwark.local/service/orders',
    'spiffe://td/a/b',
    'https://example.org/x',
    'spiffe://Bad/x',
  ),
  fc.webUrl(),
);

interface Shape {
  uris: string[];
  dns: boolean;
  usage: number | undefined;
  ca: boolean | undefined;
}

const shape = fc.record({
  // Weighted towards near-valid SVIDs, so both verdicts occur often.
  uris: fc.oneof(
    { weight: 3, arbitrary: uri.map((u) => [u]) },
    { weight: 1, arbitrary: fc.array(uri, { maxLength: 3 }) },
  ),
  dns: fc.boolean(),
  usage: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(1, 1 | 4, 1 | 16, 1 | 32, 1 | 64, 2, 0x101) },
    { weight: 1, arbitrary: fc.option(fc.integer({ min: 0, max: 0x1ff }), { nil: undefined }) },
  ),
  ca: fc.option(fc.boolean(), { nil: undefined }),
});

async function make(s: Shape) {
  const extensions: x509.Extension[] = [];
  const names = [
    ...s.uris.map((value: string) => ({ type: 'url' as const, value })),
    ...(s.dns ? [{ type: 'dns' as const, value: 'a.example' }] : []),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  if (s.usage !== undefined && s.usage !== 0) extensions.push(new x509.KeyUsagesExtension(s.usage, true));
  if (s.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(s.ca, undefined, true));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'O=Test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 60_000),
    signingAlgorithm: ALG,
    keys,
    extensions,
  });
  return cert.toString('pem');
}

describe('X.509-SVID inspection', () => {
  it('accepts and rejects exactly what the full ASN.1 reference does (differential property)', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(shape, async (s) => {
        const pem = await make(s);
        const expected = reference(pem);
        let actual: string | null;
        try {
          actual = inspectX509Svid(pem).spiffeId.uri;
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'mesh_svid_invalid');
          actual = null;
        }
        assert.equal(actual, expected);
        if (actual) accepted++;
      }),
      { numRuns: 150 },
    );
    assert.ok(accepted > 0, 'the generator produced valid SVIDs too');
  });

  it('refuses bytes that are not a certificate with its own code', () => {
    for (const bytes of [new Uint8Array([0x30, 0x82, 0xff]), new Uint8Array(0), Buffer.from('hello')]) {
      assert.throws(() => inspectX509Svid(bytes), { code: 'mesh_svid_invalid' });
    }
  });
});
