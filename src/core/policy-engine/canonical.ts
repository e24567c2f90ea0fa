/**
 * A canonical, injective text encoding of JSON values: object keys sorted, strings JSON-escaped. Two values
 * get the same encoding only if they are equal as JSON, which is what makes it safe as a decision-cache key
 * and as the input of a bundle's content hash.
 */

/**
 * Canonical JSON text of `value`; throws TypeError on values JSON cannot represent exactly.
 *
 * @example
 * canonicalJson({ b: 1, a: [true] }); // '{"a":[true],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // NaN and Infinity would both become `null`: two different inputs, one key.
      if (!Number.isFinite(value)) throw new TypeError('non-finite number in a policy request');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        if (record[key] === undefined) continue;
        out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(record[key])}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`a ${typeof value} cannot appear in a policy request`);
  }
}
