/** Key types, operations and the per-key allow list. */

/** The key types a named key can have; the type is fixed at creation. */
export const KEY_TYPES = ['aes256-gcm', 'aes256-gcm-siv', 'hmac-sha256', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** Operations a caller can be allowed per key. `read` covers metadata and public keys. */
export const KEY_OPERATIONS = [
  'encrypt',
  'decrypt',
  'rewrap',
  'datakey',
  'hmac',
  'sign',
  'verify',
  'tokenize',
  'detokenize',
  'read',
] as const;
export type KeyOperation = (typeof KEY_OPERATIONS)[number];

/**
 * Per-key allow list: operation -> caller identities (SPIFFE IDs). An entry ending in `*` matches every
 * identity with that prefix (`spiffe://bulwark.local/ns/payments/*`). Nothing is allowed unless listed.
 */
export type KeyAcl = Partial<Record<KeyOperation, string[]>>;

/** Which operations each key type supports. */
export const TYPE_OPERATIONS: Record<KeyType, readonly KeyOperation[]> = {
  'aes256-gcm': ['encrypt', 'decrypt', 'rewrap', 'datakey', 'tokenize', 'detokenize', 'read'],
  'aes256-gcm-siv': ['encrypt', 'decrypt', 'rewrap', 'read'],
  'hmac-sha256': ['hmac', 'verify', 'read'],
  ed25519: ['sign', 'verify', 'read'],
};

/**
 * The default limit of encryptions per AES-256-GCM version. NIST SP 800-38D §8.3 caps random-IV GCM at
 * 2^32 invocations per key; 2^30 keeps the collision probability of 96-bit nonces below 2^-34.
 */
export const DEFAULT_MAX_USES = 2 ** 30;
