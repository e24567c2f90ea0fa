/**
 * The transit operations over named keys, batch-first: each takes a list so that a caller with many
 * values pays one authorisation, one key lookup and one usage reservation for all of them (Vault's users
 * hit slow-downs sending one request per value). Plaintext enters and leaves only through these functions;
 * rewrap decrypts and re-encrypts inside the process and returns only ciphertext.
 */
import { createHmac, sign as edSign, verify as edVerify, timingSafeEqual } from 'node:crypto';
import { BulwarkError } from '../../core/index.ts';
import type { RandomSource } from '../../core/keys-provider/index.ts';
import { openGcm, openSiv, sealGcm, sealSiv } from '../crypto/aead.ts';
import { formatCiphertext, parseCiphertext } from '../crypto/ciphertext.ts';
import { canonicalContext, type EncryptionContext } from '../crypto/context.ts';
import { keysError } from '../errors.ts';
import type { LoadedVersion } from '../keyring/key-material.ts';
import { type KeyOperation, type KeyType, TYPE_OPERATIONS } from '../keyring/key-types.ts';
import type { Keyring } from '../keyring/keyring.ts';
import { NoncePool } from './nonce-pool.ts';

export interface PlaintextItem {
  plaintext: Uint8Array;
  context?: EncryptionContext;
}

export interface CiphertextItem {
  ciphertext: string;
  context?: EncryptionContext;
}

/** One result of a batch: a value, or the error of that item alone (the others still succeed). */
export type ItemResult<T> = { ok: true; value: T } | { ok: false; error: BulwarkError };

export interface DataKey {
  /** Absent when only the wrapped form was asked for. */
  plaintext?: Buffer;
  ciphertext: string;
}

const DATAKEY_PURPOSE = 'datakey';

const AAD_CACHE_LIMIT = 1024;

export class Transit {
  readonly #keyring: Keyring;
  readonly #nonces: NoncePool;
  readonly #random: RandomSource;
  /** Associated data by text: services send the same few contexts again and again. Bounded. */
  readonly #aadCache = new Map<string, Buffer>();

  constructor(keyring: Keyring, random: RandomSource) {
    this.#keyring = keyring;
    this.#random = random;
    this.#nonces = new NoncePool(random);
  }

  async encrypt(name: string, items: readonly PlaintextItem[]): Promise<string[]> {
    assertSupports((await this.#keyring.record(name)).type, 'encrypt', name);
    const loaded = await this.#keyring.latestFor(name, items.length);
    // Items sharing one context object are canonicalised once; the loop is synchronous, so the object
    // cannot change between items.
    let lastContext: EncryptionContext | undefined | null = null;
    let associated: Buffer = Buffer.alloc(0);
    return items.map((item) => {
      if (item.context !== lastContext) {
        lastContext = item.context;
        associated = this.#aad(loaded, item.context);
      }
      return this.#sealWith(loaded, associated, item.plaintext);
    });
  }

  async decrypt(name: string, items: readonly CiphertextItem[]): Promise<ItemResult<Buffer>[]> {
    const record = await this.#keyring.record(name);
    assertSupports(record.type, 'decrypt', name);
    const out: ItemResult<Buffer>[] = [];
    for (const item of items) out.push(await settle(() => this.#open(name, item)));
    return out;
  }

  /** Re-encrypts under the latest version; the plaintext never leaves this function. */
  async rewrap(name: string, items: readonly CiphertextItem[]): Promise<ItemResult<string>[]> {
    const record = await this.#keyring.record(name);
    assertSupports(record.type, 'rewrap', name);
    const opened = [];
    for (const item of items) opened.push(await settle(() => this.#open(name, item)));
    const count = opened.filter((r) => r.ok).length;
    const loaded = count > 0 ? await this.#keyring.latestFor(name, count) : undefined;
    return opened.map((r, i) => {
      if (!r.ok) return r;
      const sealed = this.#seal(loaded!, r.value, items[i]!.context);
      r.value.fill(0);
      return { ok: true, value: sealed };
    });
  }

  /**
   * New 256-bit data keys (envelope encryption): each is wrapped by the named key under the given
   * context plus `purpose=datakey`, so a wrapped data key cannot be passed off as an ordinary ciphertext.
   */
  async datakey(
    name: string,
    contexts: readonly (EncryptionContext | undefined)[],
    withPlaintext: boolean,
  ): Promise<DataKey[]> {
    assertSupports((await this.#keyring.record(name)).type, 'datakey', name);
    const loaded = await this.#keyring.latestFor(name, contexts.length);
    return contexts.map((context) => {
      const key = this.#random(32);
      const ciphertext = this.#seal(loaded, key, { ...context, purpose: DATAKEY_PURPOSE });
      if (withPlaintext) return { plaintext: key, ciphertext };
      key.fill(0);
      return { ciphertext };
    });
  }

  /** Unwraps a data key made by {@link datakey}. */
  async unwrapDatakey(name: string, ciphertext: string, context?: EncryptionContext): Promise<Buffer> {
    return this.#open(name, { ciphertext, context: { ...context, purpose: DATAKEY_PURPOSE } });
  }

  async hmac(name: string, inputs: readonly Uint8Array[]): Promise<string[]> {
    assertSupports((await this.#keyring.record(name)).type, 'hmac', name);
    const loaded = await this.#keyring.latestFor(name, inputs.length);
    return inputs.map((input) =>
      formatCiphertext(loaded.version, createHmac('sha256', loaded.key).update(input).digest()),
    );
  }

  async sign(name: string, inputs: readonly Uint8Array[]): Promise<string[]> {
    assertSupports((await this.#keyring.record(name)).type, 'sign', name);
    const loaded = await this.#keyring.latestFor(name, inputs.length);
    // Ed25519 (RFC 8032 §5.1.6): pure EdDSA, the algorithm argument must be null.
    return inputs.map((input) => formatCiphertext(loaded.version, edSign(null, input, loaded.key)));
  }

  /** Verifies signatures (Ed25519 keys) or MACs (HMAC keys); a wrong value is `false`, not an error. */
  async verify(
    name: string,
    items: readonly { input: Uint8Array; signature: string }[],
  ): Promise<ItemResult<boolean>[]> {
    const record = await this.#keyring.record(name);
    assertSupports(record.type, 'verify', name);
    const out: ItemResult<boolean>[] = [];
    for (const item of items) {
      out.push(
        await settle(async () => {
          const { version, payload } = parseCiphertext(item.signature);
          const { loaded } = await this.#keyring.version(name, version);
          if (loaded.type === 'ed25519') return edVerify(null, item.input, loaded.publicKey!, payload);
          const expected = createHmac('sha256', loaded.key).update(item.input).digest();
          return payload.byteLength === expected.byteLength && timingSafeEqual(payload, expected);
        }),
      );
    }
    return out;
  }

  #aad(loaded: LoadedVersion, context: EncryptionContext | undefined): Buffer {
    const text = loaded.aadPrefix + canonicalContext(context);
    let bytes = this.#aadCache.get(text);
    if (!bytes) {
      if (this.#aadCache.size >= AAD_CACHE_LIMIT) this.#aadCache.clear();
      bytes = Buffer.from(text, 'utf8');
      this.#aadCache.set(text, bytes);
    }
    return bytes;
  }

  #seal(loaded: LoadedVersion, plaintext: Uint8Array, context: EncryptionContext | undefined): string {
    return this.#sealWith(loaded, this.#aad(loaded, context), plaintext);
  }

  #sealWith(loaded: LoadedVersion, associated: Buffer, plaintext: Uint8Array): string {
    const payload =
      loaded.type === 'aes256-gcm-siv'
        ? sealSiv(loaded.raw!, associated, plaintext)
        : sealGcm(loaded.key, this.#nonces.next(), associated, plaintext);
    return formatCiphertext(loaded.version, payload);
  }

  async #open(name: string, item: CiphertextItem): Promise<Buffer> {
    const { version, payload } = parseCiphertext(item.ciphertext);
    const { loaded } = await this.#keyring.version(name, version);
    const associated = this.#aad(loaded, item.context);
    return loaded.type === 'aes256-gcm-siv'
      ? openSiv(loaded.raw!, associated, payload)
      : openGcm(loaded.key, associated, payload);
  }
}

export function assertSupports(type: KeyType, operation: KeyOperation, name: string): void {
  if (!TYPE_OPERATIONS[type].includes(operation)) {
    throw keysError('keys_wrong_key_type', `key ${name} is ${type}, which does not support ${operation}`);
  }
}

export async function settle<T>(work: () => Promise<T> | T): Promise<ItemResult<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    if (err instanceof BulwarkError) return { ok: false, error: err };
    throw err;
  }
}
