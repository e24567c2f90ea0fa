/** The root of the key hierarchy: the master key, which wraps and unwraps other keys and never leaves. */
export { KEY_PROVIDER_ERRORS, keyProviderError } from './errors.ts';
export { type KeyProvider, LocalKeyProvider, type RandomSource } from './key-provider.ts';
export { deriveMasterKey, loadKeyProvider, type MasterKeySettings } from './load-provider.ts';
