/**
 * The token vault: a token maps to its value, stored encrypted under a named AES-256-GCM key with the
 * token itself as associated data (a stored ciphertext moved to another token fails to decrypt). The value
 * never appears in the vault in the clear, and detokenizing goes through the same per-key allow list as
 * decryption (operation `detokenize`).
 */
import type { Clock } from '../../core/index.ts';
import { StorageError } from '../../core/index.ts';
import type { RandomSource } from '../../core/keys-provider/index.ts';
import { keysError } from '../errors.ts';
import type { KeyStore } from '../store/key-store.ts';
import { type ItemResult, settle, type Transit } from '../transit/operations.ts';
import { makeToken, type TokenRequest } from './token-format.ts';

const ATTEMPTS = 5;

export class TokenVault {
  readonly #store: KeyStore;
  readonly #transit: Transit;
  readonly #random: RandomSource;
  readonly #clock: Clock;

  constructor(store: KeyStore, transit: Transit, random: RandomSource, clock: Clock) {
    this.#store = store;
    this.#transit = transit;
    this.#random = random;
    this.#clock = clock;
  }

  async tokenize(keyName: string, requests: readonly TokenRequest[]): Promise<ItemResult<string>[]> {
    const out: ItemResult<string>[] = [];
    for (const request of requests) out.push(await settle(() => this.#one(keyName, request)));
    return out;
  }

  async detokenize(keyName: string, tokens: readonly string[]): Promise<ItemResult<string>[]> {
    const out: ItemResult<string>[] = [];
    for (const token of tokens) {
      out.push(
        await settle(async () => {
          const row = await this.#store.getToken(token);
          // A token of another vault is reported as unknown: the caller learns nothing about other keys.
          if (!row || row.keyName !== keyName)
            throw keysError('keys_token_not_found', 'no such token in this vault');
          const [result] = await this.#transit.decrypt(keyName, [
            { ciphertext: row.ciphertext, context: { token } },
          ]);
          if (!result!.ok) throw result!.error;
          return result!.value.toString('utf8');
        }),
      );
    }
    return out;
  }

  async #one(keyName: string, request: TokenRequest): Promise<string> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const token = makeToken(request, this.#random);
      const [ciphertext] = await this.#transit.encrypt(keyName, [
        { plaintext: Buffer.from(request.value, 'utf8'), context: { token } },
      ]);
      try {
        await this.#store.insertToken(
          token,
          keyName,
          ciphertext!,
          request.format,
          new Date(this.#clock.now()).toISOString(),
        );
        return token;
      } catch (err) {
        // A collision with an existing token (short digit tokens): draw again.
        if (!(err instanceof StorageError && err.code === 'storage_constraint')) throw err;
      }
    }
    throw keysError(
      'keys_token_format',
      'no free token of this shape after several draws; keep fewer digits',
    );
  }
}
