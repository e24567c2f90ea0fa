/**
 * Just enough DER (ITU-T X.690) to read and write the few structures the mesh handles on hot paths:
 * definite lengths up to 2^24, single-byte tags. Readers bounds-check every length against its container.
 */

export interface Tlv {
  tag: number;
  /** Offset of the tag byte (so `der.subarray(offset, end)` is the whole encoding). */
  offset: number;
  /** Content start and end. */
  start: number;
  end: number;
}

export function readTlv(der: Uint8Array, offset: number, limit: number = der.length): Tlv {
  if (offset + 2 > limit) throw new RangeError('truncated DER');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('long-form DER tags are not supported');
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    // X.690 §10.1: DER forbids the indefinite form (0x80).
    if (octets === 0 || octets > 3) throw new RangeError('unsupported DER length');
    if (start + octets > limit) throw new RangeError('truncated DER');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  if (start + length > limit) throw new RangeError('DER length beyond its container');
  return { tag, offset, start, end: start + length };
}

export function readChildren(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** One TLV with a definite, minimal length (X.690 §10.1). */
export function encodeTlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const length =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

/** An OBJECT IDENTIFIER (X.690 §8.19). */
export function encodeOid(oid: string): Buffer {
  const arcs = oid.split('.').map(Number);
  const bytes = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128))
      chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return encodeTlv(0x06, Buffer.from(bytes));
}
