/**
 * The X.509-SVID profile written directly as DER and signed with node:crypto. Issuance is the
 * authority's hot path; a general ASN.1 object model spends ~3 ms building and re-parsing each
 * certificate, this a fraction of a millisecond. The profile is X509-SVID.md's: exactly one URI SAN,
 * CA:FALSE, digitalSignature (critical), serverAuth + clientAuth. Every field is fixed here; only the key,
 * SPIFFE ID, serial, validity and optional host SANs vary. Tests check the result with OpenSSL, @peculiar/x509 and TLS peers.
 */
import { createHash, type KeyObject, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { encodeOid, encodeTlv, readChildren, readTlv } from '../../core/mtls/der.ts';

const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const UTF8_STRING = 0x0c;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

/** ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2). */
const ECDSA_SHA256 = encodeTlv(SEQUENCE, encodeOid('1.2.840.10045.4.3.2'));
const VERSION_3 = encodeTlv(0xa0, encodeTlv(INTEGER, Buffer.from([2])));
const SUBJECT = encodeTlv(
  SEQUENCE,
  encodeTlv(SET, encodeTlv(SEQUENCE, encodeOid('2.5.4.10'), encodeTlv(UTF8_STRING, Buffer.from('Bulwark')))),
);

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return encodeTlv(SEQUENCE, encodeOid(oid), ...(critical ? [TRUE] : []), encodeTlv(OCTET_STRING, value));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050
    ? encodeTlv(UTC_TIME, Buffer.from(digits.slice(2)))
    : encodeTlv(GENERALIZED_TIME, Buffer.from(digits));
}

/** What the encoder needs from the issuing CA, read once from its certificate. */
export interface IssuerFacts {
  /** DER of the issuer's subject Name (the leaf's issuer field). */
  subject: Buffer;
  /** The issuer's subjectKeyIdentifier (the leaf's authorityKeyIdentifier). */
  keyId: Buffer;
  key: KeyObject;
}

/** Reads the subject Name and subjectKeyIdentifier out of a CA certificate's DER. */
export function issuerFacts(der: Uint8Array, key: KeyObject): IssuerFacts {
  const cert = readTlv(der, 0);
  const tbs = readChildren(der, readChildren(der, cert)[0]!);
  const fields = tbs[0]?.tag === 0xa0 ? tbs.slice(1) : tbs;
  const subject = fields[4]!;
  let keyId: Buffer | undefined;
  const extensions = tbs.find((t) => t.tag === 0xa3);
  if (extensions) {
    for (const ext of readChildren(der, readChildren(der, extensions)[0]!)) {
      const parts = readChildren(der, ext);
      const oid = Buffer.from(der.subarray(parts[0]!.start, parts[0]!.end)).toString('hex');
      if (oid === '551d0e') {
        const inner = readTlv(der, parts.at(-1)!.start, parts.at(-1)!.end);
        keyId = Buffer.from(der.subarray(inner.start, inner.end));
      }
    }
  }
  if (!keyId) throw new RangeError('the issuing CA certificate has no subjectKeyIdentifier');
  return { subject: Buffer.from(der.subarray(subject.offset, subject.end)), keyId, key };
}

export interface SvidRequest {
  /** DER SubjectPublicKeyInfo of the workload key (from its verified CSR). */
  spki: Buffer;
  spiffeId: string;
  /** Hex, positive, no leading zero octet. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /**
   * DNS names and IP addresses (textual) to add as further SANs, for a workload that also serves
   * clients that check host names (browsers, curl). X509-SVID.md §2 allows other SAN types beside the
   * one URI SAN.
   */
  hosts?: readonly string[];
}

/** GeneralName entries for the SAN extension: the SPIFFE ID, then each host (RFC 5280 §4.2.1.6). */
function subjectAltNames(spiffeId: string, hosts: readonly string[]): Buffer {
  const names = [encodeTlv(0x86, Buffer.from(spiffeId, 'ascii'))];
  for (const host of hosts) {
    const ip = ipBytes(host);
    names.push(ip ? encodeTlv(0x87, ip) : encodeTlv(0x82, Buffer.from(host, 'ascii')));
  }
  return encodeTlv(SEQUENCE, ...names);
}

/** The octets of an IPv4 or IPv6 address, or undefined for a DNS name. */
function ipBytes(host: string): Buffer | undefined {
  const version = isIP(host);
  if (version === 0 && host.includes(':')) throw new RangeError(`${host} is not an IP address`);
  if (version === 4) return Buffer.from(host.split('.').map(Number));
  if (version !== 6) return undefined;
  const [head = '', tail = ''] = host.split('::');
  const part = (s: string) => (s ? s.split(':').map((h) => Number.parseInt(h, 16)) : []);
  const left = part(head);
  const right = host.includes('::') ? part(tail) : [];
  const words = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return Buffer.from(words.flatMap((w) => [w >> 8, w & 0xff]));
}

/** Returns the DER certificate. */
export function encodeSvid(issuer: IssuerFacts, request: SvidRequest): Buffer {
  const spkiTlv = readTlv(request.spki, 0);
  const bitString = readChildren(request.spki, spkiTlv)[1]!;
  // RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey bits, without tag, length and unused-bits octet.
  const keyId = createHash('sha1')
    .update(request.spki.subarray(bitString.start + 1, bitString.end))
    .digest();
  const extensions = encodeTlv(
    0xa3,
    encodeTlv(
      SEQUENCE,
      extension('2.5.29.19', true, encodeTlv(SEQUENCE)), // basicConstraints: cA FALSE (X509-SVID §4.1)
      extension('2.5.29.15', true, encodeTlv(BIT_STRING, Buffer.from([0x07, 0x80]))), // digitalSignature (§4.3)
      extension(
        '2.5.29.37',
        false,
        encodeTlv(SEQUENCE, encodeOid('1.3.6.1.5.5.7.3.1'), encodeOid('1.3.6.1.5.5.7.3.2')), // serverAuth, clientAuth (§4.4)
      ),
      extension('2.5.29.17', true, subjectAltNames(request.spiffeId, request.hosts ?? [])), // one URI SAN (§2)
      extension('2.5.29.14', false, encodeTlv(OCTET_STRING, keyId)),
      extension('2.5.29.35', false, encodeTlv(SEQUENCE, encodeTlv(0x80, issuer.keyId))),
    ),
  );
  const tbs = encodeTlv(
    SEQUENCE,
    VERSION_3,
    encodeTlv(INTEGER, Buffer.from(request.serial, 'hex')),
    ECDSA_SHA256,
    issuer.subject,
    encodeTlv(SEQUENCE, time(request.notBefore), time(request.notAfter)),
    SUBJECT,
    request.spki,
    extensions,
  );
  const signature = sign('sha256', tbs, { key: issuer.key, dsaEncoding: 'der' });
  return encodeTlv(SEQUENCE, tbs, ECDSA_SHA256, encodeTlv(BIT_STRING, Buffer.from([0]), signature));
}

export function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----`;
}
