/**
 * Token signing keys (ES256, RFC 7518 §3.4), generated on first start and kept sealed at rest.
 *
 * Rotation runs in three phases so that no live token ever loses the key that verifies it:
 *   publish  a `next` key appears in the JWKS (verifiers can fetch it before anything is signed with it);
 *   switch   `next` becomes `current` (signs from now on), the old `current` becomes `retired`;
 *   retire   retired keys leave the JWKS once every token they signed has expired (`retentionMs`).
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Clock, Store } from '../../core/index.ts';
import { identityError } from '../errors.ts';
import type { SecretVault } from './secret-vault.ts';

export const SIGNING_ALG = 'ES256';

export type KeyState = 'next' | 'current' | 'retired';

export interface SigningKeyInfo {
  kid: string;
  alg: string;
  state: KeyState;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
}

type KeyRow = {
  kid: string;
  alg: string;
  state: KeyState;
  private_sealed: string;
  public_jwk: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
};

export type RotationPhase = 'publish' | 'switch' | 'retire';

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

export class SigningKeys {
  readonly #store: Store;
  readonly #vault: SecretVault;
  readonly #clock: Clock;
  readonly #retentionMs: number;

  constructor(options: { store: Store; vault: SecretVault; clock: Clock; retentionMs: number }) {
    this.#store = options.store;
    this.#vault = options.vault;
    this.#clock = options.clock;
    this.#retentionMs = options.retentionMs;
  }

  /**
   * Creates the first signing key when none exists (first start), and checks that the stored keys open
   * with this key-encryption key: a changed passphrase must stop the start, not the first token request.
   */
  async ensure(): Promise<void> {
    const rows = await this.#rows();
    if (!rows.some((r) => r.state === 'current')) await this.#insert('current');
    try {
      await this.privateJwks();
    } catch (cause) {
      // `keys` down or refusing is not a changed passphrase: say which, so the fix is the right one.
      if ((cause as { code?: string }).code === 'identity_keys_unavailable') throw cause;
      throw identityError(
        'identity_kek_mismatch',
        'the stored signing keys cannot be opened: components.identity.keyPassphrase (or <home>/identity/kek) changed',
        { cause },
      );
    }
  }

  async list(): Promise<SigningKeyInfo[]> {
    return (await this.#rows()).map((r) => ({
      kid: r.kid,
      alg: r.alg,
      state: r.state,
      createdAt: iso(r.created_at)!,
      activatedAt: iso(r.activated_at),
      retiredAt: iso(r.retired_at),
    }));
  }

  /** The private JWKs oidc-provider loads, `current` first (it signs with the first key of an alg). */
  async privateJwks(): Promise<{ keys: JWK[]; currentKid: string }> {
    const rows = await this.#rows();
    const order: Record<KeyState, number> = { current: 0, next: 1, retired: 2 };
    rows.sort((a, b) => order[a.state] - order[b.state]);
    const current = rows.find((r) => r.state === 'current');
    if (!current)
      throw identityError('identity_keys_missing', 'no current signing key; restart to create one');
    const keys = await Promise.all(
      rows.map(async (r) => ({
        ...(JSON.parse(await this.#vault.open(r.private_sealed, `signing-key:${r.kid}`)) as JWK),
        kid: r.kid,
        alg: r.alg,
        use: 'sig',
      })),
    );
    return { keys, currentKid: current.kid };
  }

  /** Public JWKs of every published key (for verifiers inside this process). */
  async publicJwks(): Promise<JWK[]> {
    return (await this.#rows()).map((r) => JSON.parse(r.public_jwk) as JWK);
  }

  /** A fingerprint of the key set, so replicas notice a rotation done elsewhere. */
  async version(): Promise<string> {
    return (await this.#rows())
      .map((r) => `${r.kid}:${r.state}`)
      .sort()
      .join(',');
  }

  /**
   * Runs one rotation phase; without a phase, advances: publish when there is no `next` key, else switch.
   * Returns the phase that ran.
   */
  async rotate(phase?: RotationPhase): Promise<RotationPhase> {
    const rows = await this.#rows();
    const next = rows.find((r) => r.state === 'next');
    const chosen = phase ?? (next ? 'switch' : 'publish');
    const now = this.#clock.now();
    if (chosen === 'publish') {
      if (next)
        throw identityError(
          'identity_key_rotation',
          `key ${next.kid} is already published as next; switch to it first`,
        );
      await this.#insert('next');
    } else if (chosen === 'switch') {
      if (!next)
        throw identityError('identity_key_rotation', 'no next key is published; run the publish phase first');
      await this.#store.transaction(async (tx) => {
        await tx.execute(
          "UPDATE signing_keys SET state = 'retired', retired_at = ? WHERE state = 'current'",
          [now],
        );
        await tx.execute("UPDATE signing_keys SET state = 'current', activated_at = ? WHERE kid = ?", [
          now,
          next.kid,
        ]);
      });
    } else {
      const removed = await this.#store.execute(
        "DELETE FROM signing_keys WHERE state = 'retired' AND retired_at <= ?",
        [now - this.#retentionMs],
      );
      if (removed === 0 && rows.some((r) => r.state === 'retired')) {
        throw identityError(
          'identity_key_rotation',
          `retired keys still verify live tokens; they can be removed ${Math.ceil(this.#retentionMs / 1000)} s after the switch`,
        );
      }
    }
    return chosen;
  }

  async #insert(state: KeyState): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const kid = randomUUID();
    const now = this.#clock.now();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
    const sealed = await this.#vault.seal(JSON.stringify(await exportJWK(privateKey)), `signing-key:${kid}`);
    await this.#store.execute(
      'INSERT INTO signing_keys (kid, alg, state, private_sealed, public_jwk, created_at, activated_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
      [kid, SIGNING_ALG, state, sealed, JSON.stringify(publicJwk), now, state === 'current' ? now : null],
    );
  }

  async #rows(): Promise<KeyRow[]> {
    return this.#store.query<KeyRow>('SELECT * FROM signing_keys ORDER BY created_at');
  }
}
