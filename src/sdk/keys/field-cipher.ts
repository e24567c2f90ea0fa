/**
 * Envelope encryption of record fields inside a service. The service asks `keys` for a data key once,
 * keeps it in memory for a bounded time and number of uses, and encrypts fields locally with AES-256-GCM:
 * a request to `keys` per field is avoided without the data key ever being stored in the clear. The
 * wrapped data key travels inside each field value, so any replica can decrypt it later through `keys`.
 *
 *     bulwark:env1:<base64url(wrapped data key text)>.<base64url(nonce(12) || ciphertext || tag(16))>
 *
 * The field's context (tenant, record, field) is the AEAD associated data (RFC 5116 §2.1): a value copied
 * to another record or field fails to decrypt.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { type Context, KeysApiError, type KeysClient } from './keys-client.ts';

const PREFIX = 'bulwark:env1:';
const NONCE = 12;
const TAG = 16;

export interface FieldCipherOptions {
  client: KeysClient;
  /** The named AES-256-GCM key in `keys` that wraps the data keys. */
  key: string;
  /** How long one data key is used for new encryptions and kept for decryptions (default 5 min). */
  ttlMs?: number;
  /** Encryptions per data key before a new one is fetched (default 100,000; far below GCM's 2^32). */
  maxUses?: number;
  /** Unwrapped data keys kept for decryption (default 1,000). */
  maxCached?: number;
  now?: () => number;
  random?: (size: number) => Buffer;
}

interface CachedKey {
  key: KeyObject;
  wrapped: string;
  expires: number;
  uses: number;
}

/** Canonical associated data: sorted [key, value] pairs as JSON (same rule as `keys`). */
function aad(context: Context): Buffer {
  const pairs = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return Buffer.from(`bulwark:field\n${JSON.stringify(pairs)}`, 'utf8');
}

/**
 * @example
 * const fields = new FieldCipher({ client, key: 'customers-pii' });
 * const stored = await fields.encryptField('123-45-6789', { tenant: 't1', record: 'c42', field: 'ssn' });
 * const ssn = (await fields.decryptField(stored, { tenant: 't1', record: 'c42', field: 'ssn' })).toString();
 */
export class FieldCipher {
  readonly #o: Required<Omit<FieldCipherOptions, 'client' | 'key'>> &
    Pick<FieldCipherOptions, 'client' | 'key'>;
  #current: CachedKey | undefined;
  #pending: Promise<CachedKey> | undefined;
  readonly #unwrapped = new Map<string, CachedKey>();
  /** Data-key requests made to `keys` (for tests and metrics). */
  fetches = 0;

  constructor(options: FieldCipherOptions) {
    this.#o = {
      ttlMs: 5 * 60_000,
      maxUses: 100_000,
      maxCached: 1000,
      now: Date.now,
      random: randomBytes,
      ...options,
    };
  }

  async encryptField(value: string | Uint8Array, context: Context): Promise<string> {
    const dk = await this.#dataKey();
    const nonce = this.#o.random(NONCE);
    const cipher = createCipheriv('aes-256-gcm', dk.key, nonce, { authTagLength: TAG });
    cipher.setAAD(aad(context));
    const body = Buffer.concat([
      cipher.update(typeof value === 'string' ? Buffer.from(value, 'utf8') : value),
      cipher.final(),
    ]);
    const payload = Buffer.concat([nonce, body, cipher.getAuthTag()]);
    return `${PREFIX}${Buffer.from(dk.wrapped, 'utf8').toString('base64url')}.${payload.toString('base64url')}`;
  }

  async decryptField(stored: string, context: Context): Promise<Buffer> {
    const dot = stored.indexOf('.', PREFIX.length);
    if (!stored.startsWith(PREFIX) || dot < 0) {
      throw new KeysApiError('keys_ciphertext_malformed', 400, 'not a bulwark:env1 field value');
    }
    const wrapped = Buffer.from(stored.slice(PREFIX.length, dot), 'base64url').toString('utf8');
    const payload = Buffer.from(stored.slice(dot + 1), 'base64url');
    if (payload.byteLength < NONCE + TAG)
      throw new KeysApiError('keys_ciphertext_malformed', 400, 'field value too short');
    const key = await this.#unwrap(wrapped);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, payload.subarray(0, NONCE), {
        authTagLength: TAG,
      });
      decipher.setAAD(aad(context));
      decipher.setAuthTag(payload.subarray(payload.byteLength - TAG));
      const body = decipher.update(payload.subarray(NONCE, payload.byteLength - TAG));
      decipher.final();
      return body;
    } catch {
      throw new KeysApiError(
        'keys_decrypt_failed',
        400,
        'the field does not authenticate under this context',
      );
    }
  }

  /** Drops every cached data key (e.g. on shutdown or after a suspected compromise). */
  clear(): void {
    this.#current = undefined;
    this.#unwrapped.clear();
  }

  async #dataKey(): Promise<CachedKey> {
    const now = this.#o.now();
    const current = this.#current;
    if (current && current.expires > now && current.uses < this.#o.maxUses) {
      current.uses++;
      return current;
    }
    // One fetch for all concurrent callers.
    this.#pending ??= (async () => {
      try {
        this.fetches++;
        const { plaintext, ciphertext } = await this.#o.client.datakey(this.#o.key);
        const fresh = {
          key: createSecretKey(plaintext),
          wrapped: ciphertext,
          expires: this.#o.now() + this.#o.ttlMs,
          uses: 0,
        };
        plaintext.fill(0);
        this.#current = fresh;
        this.#remember(fresh);
        return fresh;
      } finally {
        this.#pending = undefined;
      }
    })();
    const fresh = await this.#pending;
    fresh.uses++;
    return fresh;
  }

  async #unwrap(wrapped: string): Promise<KeyObject> {
    const now = this.#o.now();
    const hit = this.#unwrapped.get(wrapped);
    if (hit && hit.expires > now) return hit.key;
    this.#unwrapped.delete(wrapped);
    const plaintext = await this.#o.client.unwrapDatakey(this.#o.key, wrapped);
    const key = createSecretKey(plaintext);
    plaintext.fill(0);
    this.#remember({ key, wrapped, expires: now + this.#o.ttlMs, uses: 0 });
    return key;
  }

  #remember(entry: CachedKey): void {
    this.#unwrapped.delete(entry.wrapped);
    this.#unwrapped.set(entry.wrapped, entry);
    // Map iteration order is insertion order: the first entries are the least recently added.
    while (this.#unwrapped.size > this.#o.maxCached)
      this.#unwrapped.delete(this.#unwrapped.keys().next().value!);
  }
}
