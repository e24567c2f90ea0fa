/**
 * Encryption context: the (tenant, record, field...) a ciphertext belongs to, bound to it as AEAD
 * associated data (RFC 5116 §2.1: the associated data is authenticated, not encrypted). A ciphertext copied
 * to another record or field then fails to decrypt instead of revealing another row's value.
 */

export type EncryptionContext = Readonly<Record<string, string>>;

const CONTEXT_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_CONTEXT_VALUE = 1024;
export const MAX_CONTEXT_ENTRIES = 16;

/**
 * Canonical bytes of a context: entries sorted by key, serialised as a JSON array of pairs, so that
 * `{a, b}` and `{b, a}` bind the same way and no two different contexts share a serialisation.
 *
 * @example
 * canonicalContext({ tenant: 't1', field: 'ssn' }); // '[["field","ssn"],["tenant","t1"]]'
 */
export function canonicalContext(context: EncryptionContext | undefined): string {
  if (context === undefined) return '[]';
  const keys = Object.keys(context);
  if (keys.length > MAX_CONTEXT_ENTRIES)
    throw new TypeError(`context has more than ${MAX_CONTEXT_ENTRIES} entries`);
  keys.sort();
  const pairs: [string, string][] = [];
  for (const key of keys) {
    const value = context[key];
    if (!CONTEXT_KEY.test(key))
      throw new TypeError(`context key ${JSON.stringify(key)} must match ${CONTEXT_KEY}`);
    if (typeof value !== 'string' || value.length > MAX_CONTEXT_VALUE) {
      throw new TypeError(
        `context value of ${key} must be a string of at most ${MAX_CONTEXT_VALUE} characters`,
      );
    }
    pairs.push([key, value]);
  }
  return JSON.stringify(pairs);
}
