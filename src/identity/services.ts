/** The parts of the identity component, built once in `create()` and handed to the route plugins. */
import type { Provider } from 'oidc-provider';
import type { AuditSink, Clock, Logger, Store } from '../core/index.ts';
import type { ClientRegistry } from './clients/client-registry.ts';
import type { IdentityConfig } from './config.ts';
import type { SecretBox } from './keys/key-encryption.ts';
import type { SecretVault } from './keys/secret-vault.ts';
import type { SigningKeys } from './keys/signing-keys.ts';
import type { Throttle } from './login/throttle.ts';
import type { Passkeys } from './mfa/passkeys.ts';
import type { RecoveryCodes } from './mfa/recovery-codes.ts';
import type { TotpFactor } from './mfa/totp.ts';
import type { ProviderHost } from './provider/mount.ts';
import type { AccessTokenVerifier } from './tokens/access-token-verifier.ts';
import type { RevocationList } from './tokens/revocation-list.ts';
import type { Invitations } from './users/invitations.ts';
import type { RoleStore } from './users/roles.ts';
import type { UserStore } from './users/user-store.ts';

export interface IdentityServices {
  config: IdentityConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  audit: AuditSink;
  /** The local key-encryption key: derives cookie and CSRF keys (sub-keys, never stored). */
  box: SecretBox;
  /** Seals secrets at rest: through `keys` when identity has a client, else with `box`. */
  vault: SecretVault;
  host: ProviderHost;
  provider(): Promise<Provider>;
  verifier(): AccessTokenVerifier;
  keys: SigningKeys;
  revocations: RevocationList;
  users: UserStore;
  roles: RoleStore;
  invitations: Invitations;
  clients: ClientRegistry;
  totp: TotpFactor;
  recovery: RecoveryCodes;
  passkeys: Passkeys;
  throttle: Throttle;
  /** Whether the server speaks TLS (cookies are Secure and the issuer is https). */
  tls: boolean;
  listenHost: string;
}
