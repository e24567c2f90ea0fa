/**
 * The master-key provider's errors. The provider is the root of `keys`' hierarchy and also seals
 * `authority`'s CA keys, so it lives in core; its codes belong to the keys family (docs/keys.md).
 */
import { errorFactory } from '../errors.ts';

export const KEY_PROVIDER_ERRORS = {
  keys_master_key_invalid: { status: 500, title: 'The master key is missing, malformed or wrong' },
  keys_unwrap_failed: { status: 500, title: 'A stored key could not be unwrapped with the master key' },
} as const;

export const keyProviderError = errorFactory(KEY_PROVIDER_ERRORS, 'keys');
