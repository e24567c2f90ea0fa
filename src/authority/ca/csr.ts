/**
 * Certificate signing requests (RFC 2986) as proof that the workload holds the private key. Only the
 * public key is taken from a CSR: its subject and extensions are ignored, because the SPIFFE ID comes from
 * attestation, never from what the requester asks for. Parsed with a small DER reader and verified with
 * node:crypto (the request path of every issuance).
 */
import { createPublicKey, verify } from 'node:crypto';
import { readChildren, readTlv } from '../../core/mtls/der.ts';
import { authorityError } from '../errors.ts';

const MAX_CSR_CHARS = 8192;
/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2), the only signature algorithm accepted. */
const ECDSA_SHA256_OID = '2a8648ce3d040302';

/** Verifies the CSR's self-signature and returns its P-256 public key as DER SPKI; throws `authority_csr_invalid`. */
export function publicKeyFromCsr(pem: string): Buffer {
  const invalid = (why: string, cause?: unknown) =>
    authorityError('authority_csr_invalid', `the CSR ${why}`, cause ? { cause } : {});
  if (typeof pem !== 'string' || pem.length > MAX_CSR_CHARS) throw invalid('is missing or too large');
  const match =
    /-----BEGIN CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE REQUEST-----/.exec(pem);
  if (!match) throw invalid('is not a PEM PKCS#10 request');
  const der = Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
  let info: Buffer;
  let spki: Buffer;
  let signature: Buffer;
  try {
    // RFC 2986 §4.2: CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
    const outer = readTlv(der, 0);
    if (outer.end !== der.length) throw new RangeError('trailing bytes');
    const [infoTlv, algTlv, sigTlv] = readChildren(der, outer);
    if (!infoTlv || !algTlv || sigTlv?.tag !== 0x03) throw new RangeError('not a CertificationRequest');
    const alg = readChildren(der, algTlv)[0]!;
    if (Buffer.from(der.subarray(alg.start, alg.end)).toString('hex') !== ECDSA_SHA256_OID) {
      throw new RangeError('signature algorithm is not ecdsa-with-SHA256');
    }
    info = Buffer.from(der.subarray(infoTlv.offset, infoTlv.end));
    const spkiTlv = readChildren(der, infoTlv)[2]!; // version, subject, subjectPKInfo, attributes
    spki = Buffer.from(der.subarray(spkiTlv.offset, spkiTlv.end));
    signature = Buffer.from(der.subarray(sigTlv.start + 1, sigTlv.end)); // skip the unused-bits octet
  } catch (cause) {
    throw invalid('is not a well-formed PKCS#10 request', cause);
  }
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (cause) {
    throw invalid('carries an unreadable public key', cause);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw invalid('key must be ECDSA P-256');
  }
  // RFC 2986 §3: the signature over certificationRequestInfo proves possession of the private key.
  if (!verify('sha256', info, { key, dsaEncoding: 'der' }, signature))
    throw invalid('signature does not verify');
  return spki;
}
