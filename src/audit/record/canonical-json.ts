/**
 * RFC 8785 JSON Canonicalization Scheme for the values a record can hold: object keys sorted by UTF-16
 * code units (§3.2.3), numbers and strings serialised as ECMAScript does (§3.2.2). The leaf data of the
 * log is the canonical form, so anyone can rebuild a leaf hash from an exported record.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out += `${i ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(obj[k])}`;
  }
  return `${out}}`;
}
