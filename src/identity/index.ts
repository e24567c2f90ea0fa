/** The identity component's public names. */
export { ADMIN_RESOURCE, ADMIN_SCOPE } from './admin/admin-auth.ts';
export {
  ADMIN_CLIENT_ID,
  adminCredentialsPath,
  REVOCATION_READER_CLIENT_ID,
  revocationReaderCredentialsPath,
} from './bootstrap.ts';
export {
  createIdentity,
  createIdentityComponent,
  type IdentityOptions,
  identityComponent,
} from './component.ts';
export { IDENTITY_CONFIG, type IdentityConfig } from './config.ts';
export { IDENTITY_ERRORS, type IdentityErrorCode, identityError } from './errors.ts';
export {
  DEFAULT_IDENTITY_KEY,
  KeysVault,
  type KeysVaultOptions,
  localVault,
  type SecretVault,
} from './keys/secret-vault.ts';
export { ACR_MFA, ACR_PASSWORD } from './provider/acr.ts';
export { OIDC_PREFIX } from './provider/mount.ts';
export { grantDigest } from './tokens/revocation-list.ts';
export { ARGON2_PARAMS } from './users/password-hash.ts';
