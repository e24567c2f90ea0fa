/**
 * A minimal DER reader for the three certificate extensions the X.509-SVID rules need (subjectAltName,
 * keyUsage, basicConstraints). Every mTLS handshake inspects the peer's leaf, and a full ASN.1 object
 * model costs about 2 ms a certificate here; walking the TLVs costs microseconds. Input is a certificate
 * OpenSSL has already parsed and verified, but the reader still bounds-checks every length and refuses
 * what it does not understand (long-form tags, indefinite lengths, duplicate extensions).
 */
import { readChildren, readTlv } from './der.ts';

/** OID arcs after 2.5.29 (id-ce), RFC 5280 §4.2.1. */
const ID_CE_PREFIX = [0x55, 0x1d];
const OID_KEY_USAGE = 0x0f; // 2.5.29.15
const OID_SUBJECT_ALT_NAME = 0x11; // 2.5.29.17
const OID_BASIC_CONSTRAINTS = 0x13; // 2.5.29.19

const SEQUENCE = 0x30;
const EXTENSIONS_TAG = 0xa3; // [3] EXPLICIT, RFC 5280 §4.1
const OID = 0x06;
const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
const BIT_STRING = 0x03;
const URI_NAME = 0x86; // GeneralName uniformResourceIdentifier [6] IA5String, RFC 5280 §4.2.1.6

export interface SvidExtensions {
  /** URI SANs, in order. */
  uris: string[];
  /** RFC 5280 §4.2.1.3 bits: 0 = digitalSignature ... 5 = keyCertSign, 6 = cRLSign; null when absent. */
  keyUsage: number | null;
  /** basicConstraints cA; false when the extension is absent. */
  ca: boolean;
}

/** Reads the SVID-relevant extensions of a DER certificate; throws RangeError on malformed input. */
export function readSvidExtensions(der: Uint8Array): SvidExtensions {
  const certificate = readTlv(der, 0, der.length);
  const tbs = readChildren(der, certificate)[0];
  if (certificate.tag !== SEQUENCE || tbs?.tag !== SEQUENCE) throw new RangeError('not a certificate');
  const wrapper = readChildren(der, tbs).find((t) => t.tag === EXTENSIONS_TAG);
  const result: SvidExtensions = { uris: [], keyUsage: null, ca: false };
  if (!wrapper) return result;
  const list = readChildren(der, wrapper)[0];
  if (list?.tag !== SEQUENCE) throw new RangeError('malformed extensions');
  const seen = new Set<number>();
  for (const extension of readChildren(der, list)) {
    const parts = readChildren(der, extension);
    const oid = parts[0];
    const value = parts.at(-1);
    if (oid?.tag !== OID || value?.tag !== OCTET_STRING) throw new RangeError('malformed extension');
    if (parts.length === 3 && parts[1]!.tag !== BOOLEAN) throw new RangeError('malformed extension');
    const isIdCe =
      oid.end - oid.start === 3 &&
      der[oid.start] === ID_CE_PREFIX[0] &&
      der[oid.start + 1] === ID_CE_PREFIX[1];
    if (!isIdCe) continue;
    const arc = der[oid.start + 2]!;
    // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
    if (seen.has(arc)) throw new RangeError('duplicate extension');
    seen.add(arc);
    const inner = readTlv(der, value.start, value.end);
    if (arc === OID_SUBJECT_ALT_NAME) {
      if (inner.tag !== SEQUENCE) throw new RangeError('malformed subjectAltName');
      for (const name of readChildren(der, inner)) {
        if (name.tag === URI_NAME)
          result.uris.push(Buffer.from(der.subarray(name.start, name.end)).toString('latin1'));
      }
    } else if (arc === OID_KEY_USAGE) {
      if (inner.tag !== BIT_STRING || inner.end - inner.start < 2) throw new RangeError('malformed keyUsage');
      // Bit 0 is the most significant bit of the first content octet after the unused-bits count.
      const first = der[inner.start + 1]!;
      const second = inner.end - inner.start > 2 ? der[inner.start + 2]! : 0;
      let bits = 0;
      for (let bit = 0; bit < 9; bit++) {
        const byte = bit < 8 ? first : second;
        if (byte & (0x80 >> (bit % 8))) bits |= 1 << bit;
      }
      result.keyUsage = bits;
    } else if (arc === OID_BASIC_CONSTRAINTS) {
      if (inner.tag !== SEQUENCE) throw new RangeError('malformed basicConstraints');
      const first = readChildren(der, inner)[0];
      result.ca = first?.tag === BOOLEAN && first.end > first.start && der[first.start] !== 0;
    }
  }
  return result;
}

/** keyUsage bit positions (RFC 5280 §4.2.1.3). */
export const KEY_USAGE_BIT = { digitalSignature: 1 << 0, keyCertSign: 1 << 5, cRLSign: 1 << 6 } as const;
