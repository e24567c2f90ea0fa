/**
 * Checks that a leaf certificate is a conformant X.509-SVID (SPIFFE X509-SVID.md) and extracts its SPIFFE
 * ID. Chain validation is TLS's job (OpenSSL, against the trust bundle); this adds the SPIFFE rules that a
 * generic chain check does not know, so a certificate from the same root that is not an SVID (e.g. a
 * component's localhost server certificate) identifies nobody. It runs on every handshake, so it uses
 * Node's native X509Certificate plus a small DER reader, and remembers recent answers by certificate.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { KEY_USAGE_BIT, readSvidExtensions } from './der-extensions.ts';
import { mtlsError } from './errors.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';

export interface SvidFacts {
  spiffeId: SpiffeId;
  /** Lower-case hex serial, without leading zero bytes. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Workloads present the same SVID on many connections; the facts of a certificate never change. */
const CACHE_SIZE = 1024;
const cache = new Map<string, SvidFacts | Error>();

/**
 * Parses a leaf (DER bytes or PEM) and applies the X.509-SVID leaf rules; throws `mesh_svid_invalid`.
 *
 * @example
 * const { spiffeId } = inspectX509Svid(socket.getPeerCertificate().raw);
 */
export function inspectX509Svid(certificate: Uint8Array | string): SvidFacts {
  let der: Uint8Array;
  let cert: X509Certificate | undefined;
  try {
    if (typeof certificate === 'string') {
      cert = new X509Certificate(certificate);
      der = cert.raw;
    } else {
      der = certificate;
    }
  } catch (cause) {
    throw mtlsError('mesh_svid_invalid', 'the certificate cannot be parsed', { cause });
  }
  const key = createHash('sha256').update(der).digest('base64');
  let facts = cache.get(key);
  if (!facts) {
    facts = inspect(der, cert);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, facts);
  }
  if (facts instanceof Error) throw facts;
  return facts;
}

function inspect(der: Uint8Array, parsed: X509Certificate | undefined): SvidFacts | Error {
  const fail = (why: string) => mtlsError('mesh_svid_invalid', `not an X.509-SVID: ${why}`);
  let cert: X509Certificate;
  let extensions: ReturnType<typeof readSvidExtensions>;
  try {
    cert = parsed ?? new X509Certificate(der);
    extensions = readSvidExtensions(der);
  } catch (cause) {
    return mtlsError('mesh_svid_invalid', 'the certificate cannot be parsed', { cause });
  }
  // X509-SVID.md §2: "An X.509 SVID MUST contain exactly one URI SAN".
  if (extensions.uris.length !== 1)
    return fail(`it has ${extensions.uris.length} URI SANs, exactly one is required`);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(extensions.uris[0]!);
  } catch {
    return fail('its URI SAN is not a valid SPIFFE ID');
  }
  // X509-SVID.md §4.1: a leaf SVID's basic constraints "cA" field MUST be false.
  if (extensions.ca || cert.ca) return fail('it is a CA certificate');
  // X509-SVID.md §4.3: leaf SVIDs MUST set digitalSignature and MUST NOT set keyCertSign or cRLSign.
  const usage = extensions.keyUsage;
  if (usage === null || !(usage & KEY_USAGE_BIT.digitalSignature))
    return fail('its key usage lacks digitalSignature');
  if (usage & (KEY_USAGE_BIT.keyCertSign | KEY_USAGE_BIT.cRLSign))
    return fail('its key usage allows signing certificates or CRLs');
  return {
    spiffeId,
    serial: normaliseSerial(cert.serialNumber),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
  };
}

/** Serial numbers compared as lower-case hex without leading zeros (OpenSSL and x509 print them apart). */
export function normaliseSerial(hex: string): string {
  return hex.toLowerCase().replace(/^(00)+/, '') || '0';
}
