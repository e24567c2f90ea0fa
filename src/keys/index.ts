/** The public names of the `keys` component. */

export {
  deriveMasterKey,
  type KeyProvider,
  LocalKeyProvider,
  loadKeyProvider,
  type MasterKeySettings,
  type RandomSource,
} from '../core/keys-provider/index.ts';
export { AllowListAuthorizer, type AuthorizationRequest, type Authorizer } from './api/authorize.ts';
export { createKeysComponent, type KeysOverrides, keysComponent } from './component.ts';
export { KEYS_CONFIG, type KeysSettings } from './config.ts';
export { formatCiphertext, parseCiphertext } from './crypto/ciphertext.ts';
export { canonicalContext, type EncryptionContext } from './crypto/context.ts';
export { KEYS_ERRORS, type KeysErrorCode, keysError } from './errors.ts';
export {
  KEY_OPERATIONS,
  KEY_TYPES,
  type KeyAcl,
  type KeyOperation,
  type KeyType,
} from './keyring/key-types.ts';
export { type CreateKeyInput, Keyring, type KeyringOptions } from './keyring/keyring.ts';
export { SubjectKeys } from './shred/subject-keys.ts';
export { KeyStore } from './store/key-store.ts';
export { KEYS_MIGRATIONS } from './store/migrations.ts';
export { TokenVault } from './tokenize/token-vault.ts';
export { type ItemResult, Transit } from './transit/operations.ts';
