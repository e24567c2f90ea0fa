/**
 * Where identity's secrets at rest (token-signing keys, TOTP seeds) are sealed. Two vaults share one async
 * interface:
 *
 * - {@link localVault}: the local key-encryption key (file or passphrase, see key-encryption.ts). The
 *   fallback when identity runs without `keys` (standalone, most tests). Values look like `v1.<iv>.<ct>`.
 * - {@link KeysVault}: envelope encryption through the `keys` component (SDK `FieldCipher`): a data key from
 *   the named key `bulwark-identity` encrypts locally with AES-256-GCM, the row's context as associated
 *   data (RFC 5116 §2.1), so a value copied to another row does not open. Values look like
 *   `bulwark:env1:...`. Local `v1.` values still open (through the local box) and report {@link
 *   SecretVault.stale}, so they are re-sealed to `keys` at start (see reseal.ts).
 */
import { FieldCipher, KeysApiError, type KeysClient } from '../../sdk/keys/index.ts';
import { identityError } from '../errors.ts';
import type { SecretBox } from './key-encryption.ts';

/** The prefix of values sealed by the local box (key-encryption.ts). */
const LOCAL_PREFIX = 'v1.';
const KEYS_PREFIX = 'bulwark:env1:';
export const DEFAULT_IDENTITY_KEY = 'bulwark-identity';

export interface SecretVault {
  /** `local` (key-encryption key on this machine) or `keys` (envelope encryption through `keys`). */
  readonly kind: 'local' | 'keys';
  /** Seals `plain`; `context` names the row (`totp:<user>`) and is bound as associated data. */
  seal(plain: string, context: string): Promise<string>;
  /** Opens a sealed value; fails with `identity_secret_unreadable` for another row's value. */
  open(sealed: string, context: string): Promise<string>;
  /** Whether a stored value is in an older form this vault re-seals (a local value once `keys` is used). */
  stale(sealed: string): boolean;
}

function unreadable(cause: unknown): never {
  throw identityError(
    'identity_secret_unreadable',
    'a stored secret does not open under its row: it was copied from another row, tampered with, or sealed by another key',
    { cause },
  );
}

/**
 * The local key-encryption key as a vault.
 *
 * @example
 * const vault = localVault(createSecretBox(loadKek(home, null)));
 * const sealed = await vault.seal(seed, `totp:${userId}`);
 */
export function localVault(box: SecretBox): SecretVault {
  return {
    kind: 'local',
    seal: async (plain, context) => box.seal(plain, context),
    open: async (sealed, context) => {
      if (sealed.startsWith(KEYS_PREFIX)) {
        throw identityError(
          'identity_keys_unavailable',
          'this secret was sealed through the keys component; start identity with a keys client',
        );
      }
      try {
        return box.open(sealed, context);
      } catch (cause) {
        return unreadable(cause);
      }
    },
    stale: () => false,
  };
}

export interface KeysVaultOptions {
  client: KeysClient;
  /** The AES-256-GCM key in `keys` that wraps identity's data keys (default `bulwark-identity`). */
  key?: string;
  /** Opens local `v1.` values written before `keys` was used (the migration path). */
  legacy?: SecretBox;
  /** Data-key cache lifetime (FieldCipher `ttlMs`, default 5 min). */
  ttlMs?: number;
  now?: () => number;
}

/** Turns anything `keys` answered (or a failed connection) into a stable identity error without secrets. */
function keysFailure(err: unknown): never {
  if (
    err instanceof KeysApiError &&
    (err.code === 'keys_decrypt_failed' || err.code === 'keys_ciphertext_malformed')
  )
    return unreadable(err);
  const code = err instanceof KeysApiError ? err.code : ((err as { code?: string }).code ?? 'error');
  throw identityError(
    'identity_keys_unavailable',
    `the keys component did not serve identity's secrets (${code}); nothing was changed, retry when keys is back`,
    { cause: err },
  );
}

/**
 * Envelope encryption through `keys`.
 *
 * @example
 * const vault = new KeysVault({ client, legacy: box });
 * await vault.init(); // checks access, creates `bulwark-identity` when this caller is a keys admin
 * const sealed = await vault.seal(jwkJson, `signing-key:${kid}`);
 */
export class KeysVault implements SecretVault {
  readonly kind = 'keys' as const;
  readonly #client: KeysClient;
  readonly #key: string;
  readonly #legacy: SecretBox | undefined;
  readonly #fields: FieldCipher;

  constructor(options: KeysVaultOptions) {
    this.#client = options.client;
    this.#key = options.key ?? DEFAULT_IDENTITY_KEY;
    this.#legacy = options.legacy;
    this.#fields = new FieldCipher({
      client: options.client,
      key: this.#key,
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /**
   * Checks at start that this caller may make and unwrap data keys with the named key. When the key is
   * missing and the caller is a `keys` admin, creates it with an `acl` naming only this caller; otherwise
   * fails with `identity_keys_unavailable` naming the prerequisite.
   */
  async init(): Promise<void> {
    try {
      await this.#probe();
      return;
    } catch (err) {
      // A missing key is `keys_forbidden` to ordinary callers (no probing of names) and 404 to admins.
      const missing =
        err instanceof KeysApiError && (err.code === 'keys_forbidden' || err.code === 'keys_key_not_found');
      if (!missing) keysFailure(err);
    }
    const caller = this.#client.caller;
    try {
      await this.#client.call('POST', '/v1/keys', {
        name: this.#key,
        type: 'aes256-gcm',
        acl: { datakey: [caller], decrypt: [caller] },
      });
    } catch (err) {
      if (!(err instanceof KeysApiError) || err.code !== 'keys_key_exists') {
        throw identityError(
          'identity_keys_unavailable',
          `identity may not use the keys key ${this.#key}: create it (bulwark keys create ${this.#key} --type aes256-gcm --allow datakey=${caller} --allow decrypt=${caller}) or grant this caller datakey and decrypt on it`,
          { cause: err },
        );
      }
    }
    try {
      await this.#probe();
    } catch (err) {
      keysFailure(err);
    }
  }

  async seal(plain: string, context: string): Promise<string> {
    try {
      return await this.#fields.encryptField(plain, { purpose: 'identity', row: context });
    } catch (err) {
      return keysFailure(err);
    }
  }

  async open(sealed: string, context: string): Promise<string> {
    if (sealed.startsWith(LOCAL_PREFIX)) {
      if (!this.#legacy) return unreadable(new TypeError('no local key-encryption key for a v1 value'));
      try {
        return this.#legacy.open(sealed, context);
      } catch (cause) {
        return unreadable(cause);
      }
    }
    try {
      return (await this.#fields.decryptField(sealed, { purpose: 'identity', row: context })).toString(
        'utf8',
      );
    } catch (err) {
      return keysFailure(err);
    }
  }

  stale(sealed: string): boolean {
    return sealed.startsWith(LOCAL_PREFIX);
  }

  /** Drops cached data keys (on close). */
  clear(): void {
    this.#fields.clear();
  }

  /** One data key made and unwrapped: proves both `datakey` and `decrypt` are allowed. */
  async #probe(): Promise<void> {
    const { plaintext, ciphertext } = await this.#client.datakey(this.#key);
    const back = await this.#client.unwrapDatakey(this.#key, ciphertext);
    const same = back.equals(plaintext);
    plaintext.fill(0);
    back.fill(0);
    if (!same) throw new KeysApiError('keys_decrypt_failed', 500, 'the probe data key did not round-trip');
  }
}
