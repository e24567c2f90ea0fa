/**
 * The `keys` error catalog. Every code has a row in `docs/keys.md`. Decryption failures share one code
 * (`keys_decrypt_failed`) whatever the cause among tag, key or associated data: telling them apart would
 * hand an attacker an oracle (which part of a forged ciphertext was wrong).
 */
import { errorFactory } from '../core/index.ts';

export const KEYS_ERRORS = {
  keys_unauthenticated: { status: 401, title: 'The caller identity header is missing' },
  keys_forbidden: { status: 403, title: 'The caller may not use this key for this operation' },
  keys_key_not_found: { status: 404, title: 'No key with that name' },
  keys_key_exists: { status: 409, title: 'A key with that name already exists' },
  keys_wrong_key_type: { status: 400, title: 'The key type does not support this operation' },
  keys_ciphertext_malformed: { status: 400, title: 'The ciphertext is not in the bulwark format' },
  keys_decrypt_failed: {
    status: 400,
    title: 'The ciphertext does not authenticate under this key and context',
  },
  keys_version_below_minimum: {
    status: 400,
    title: 'The ciphertext version is below the key minimum decryption version',
  },
  keys_version_unknown: { status: 400, title: 'The ciphertext names a key version that does not exist' },
  keys_invalid_version_setting: { status: 400, title: 'The version setting is out of range' },
  keys_token_not_found: { status: 404, title: 'No such token in the vault' },
  keys_token_format: { status: 400, title: 'The value does not fit the requested token format' },
  keys_subject_erased: { status: 410, title: 'The subject key was erased (crypto-shredded)' },
  keys_master_key_invalid: { status: 500, title: 'The master key is missing, malformed or wrong' },
  keys_unwrap_failed: { status: 500, title: 'A stored key could not be unwrapped with the master key' },
} as const;

export type KeysErrorCode = keyof typeof KEYS_ERRORS;

export const keysError = errorFactory(KEYS_ERRORS, 'keys');
