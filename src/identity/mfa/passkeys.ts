/**
 * Passkeys (WebAuthn Level 2) through @simplewebauthn/server: user verification required (§7.1 step 16,
 * §7.2 step 17), origin and RP ID checked, one stored challenge per ceremony, used once and for 5 minutes,
 * and the signature counter checked to spot cloned authenticators (§6.1.1).
 */
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Clock, Store } from '../../core/index.ts';

const CHALLENGE_TTL_MS = 300_000;

export interface PasskeySettings {
  rpId: string;
  rpName: string;
  origin: string;
}

type PasskeyRow = {
  id: string;
  user_id: string;
  public_key: string;
  counter: number;
  transports: string;
};

export class Passkeys {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #settings: () => PasskeySettings;

  constructor(options: { store: Store; clock: Clock; settings: () => PasskeySettings }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#settings = options.settings;
  }

  async count(userId: string): Promise<number> {
    const [row] = await this.#store.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?',
      [userId],
    );
    return Number(row?.n ?? 0);
  }

  async registrationOptions(ceremony: string, user: { id: string; username: string }) {
    const { rpId, rpName } = this.#settings();
    const existing = await this.#list(user.id);
    const options = await generateRegistrationOptions({
      rpName,
      rpID: rpId,
      userName: user.username,
      userID: new TextEncoder().encode(user.id),
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({
        id: c.id,
        transports: JSON.parse(c.transports) as string[],
      })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    });
    await this.#saveChallenge(`reg:${ceremony}`, user.id, options.challenge);
    return options;
  }

  /** Verifies an attestation and stores the credential; false when anything does not check out. */
  async register(ceremony: string, userId: string, response: RegistrationResponseJSON): Promise<boolean> {
    const challenge = await this.#takeChallenge(`reg:${ceremony}`, userId);
    if (!challenge) return false;
    const { rpId, origin } = this.#settings();
    try {
      const result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpId,
        requireUserVerification: true,
      });
      if (!result.verified) return false;
      const { credential } = result.registrationInfo;
      await this.#store.execute(
        'INSERT INTO passkeys (id, user_id, public_key, counter, transports, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        [
          credential.id,
          userId,
          Buffer.from(credential.publicKey).toString('base64url'),
          credential.counter,
          JSON.stringify(credential.transports ?? []),
          this.#clock.now(),
        ],
      );
      return true;
    } catch {
      return false;
    }
  }

  async authenticationOptions(ceremony: string, userId: string) {
    const { rpId } = this.#settings();
    const options = await generateAuthenticationOptions({
      rpID: rpId,
      userVerification: 'required',
      allowCredentials: (await this.#list(userId)).map((c) => ({
        id: c.id,
        transports: JSON.parse(c.transports) as never[],
      })),
    });
    await this.#saveChallenge(`auth:${ceremony}`, userId, options.challenge);
    return options;
  }

  async authenticate(
    ceremony: string,
    userId: string,
    response: AuthenticationResponseJSON,
  ): Promise<boolean> {
    const challenge = await this.#takeChallenge(`auth:${ceremony}`, userId);
    if (!challenge) return false;
    const [row] = await this.#store.query<PasskeyRow>('SELECT * FROM passkeys WHERE id = ? AND user_id = ?', [
      response.id,
      userId,
    ]);
    if (!row) return false;
    const { rpId, origin } = this.#settings();
    try {
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpId,
        requireUserVerification: true,
        credential: {
          id: row.id,
          publicKey: Buffer.from(row.public_key, 'base64url'),
          counter: Number(row.counter),
          transports: JSON.parse(row.transports) as never[],
        },
      });
      if (!result.verified) return false;
      await this.#store.execute('UPDATE passkeys SET counter = ? WHERE id = ?', [
        result.authenticationInfo.newCounter,
        row.id,
      ]);
      return true;
    } catch {
      return false;
    }
  }

  async #list(userId: string): Promise<PasskeyRow[]> {
    return this.#store.query<PasskeyRow>('SELECT * FROM passkeys WHERE user_id = ?', [userId]);
  }

  async #saveChallenge(id: string, userId: string, challenge: string): Promise<void> {
    await this.#store.execute(
      `INSERT INTO challenges (id, user_id, challenge, purpose, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, challenge = excluded.challenge, expires_at = excluded.expires_at`,
      [id, userId, challenge, id.split(':')[0]!, this.#clock.now() + CHALLENGE_TTL_MS],
    );
  }

  /** Returns the challenge and deletes it: a ceremony's challenge is good for one answer only. */
  async #takeChallenge(id: string, userId: string): Promise<string | undefined> {
    const [row] = await this.#store.query<{ challenge: string; user_id: string; expires_at: number }>(
      'SELECT challenge, user_id, expires_at FROM challenges WHERE id = ?',
      [id],
    );
    await this.#store.execute('DELETE FROM challenges WHERE id = ?', [id]);
    if (!row || row.user_id !== userId || Number(row.expires_at) <= this.#clock.now()) return undefined;
    return row.challenge;
  }
}
