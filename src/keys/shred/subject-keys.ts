/**
 * Crypto-shredding: one AES-256-GCM key per data subject (a person, an account). Data about the subject is
 * encrypted under that key; erasing the key makes every copy of that data unreadable at once — in
 * backups, replicas and append-only logs — without touching the copies. The audit log stores such
 * ciphertexts in its records: the Merkle tree hashes the ciphertext bytes, so inclusion and consistency
 * proofs stay valid after erasure while the PII inside is gone for good.
 *
 * Subject ids are often PII themselves (an e-mail), so the store keeps only HMAC-SHA-256(index key, id).
 */
import { createHmac, createSecretKey } from 'node:crypto';
import type { Clock } from '../../core/index.ts';
import type { KeyProvider, RandomSource } from '../../core/keys-provider/index.ts';
import { openGcm, sealGcm } from '../crypto/aead.ts';
import { formatCiphertext, parseCiphertext } from '../crypto/ciphertext.ts';
import { canonicalContext, type EncryptionContext } from '../crypto/context.ts';
import { keysError } from '../errors.ts';
import type { KeyStore } from '../store/key-store.ts';
import { NoncePool } from '../transit/nonce-pool.ts';
import { type ItemResult, settle } from '../transit/operations.ts';

const INDEX_KEY = 'subject_index_key';
const INDEX_LABEL = 'bulwark:subject-index';
const SUBJECT_VERSION = 1;

export class SubjectKeys {
  readonly #store: KeyStore;
  readonly #provider: KeyProvider;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #nonces: NoncePool;
  #indexKey: Buffer | undefined;

  constructor(store: KeyStore, provider: KeyProvider, clock: Clock, random: RandomSource) {
    this.#store = store;
    this.#provider = provider;
    this.#clock = clock;
    this.#random = random;
    this.#nonces = new NoncePool(random);
  }

  /** The stored (pseudonymous) id of a subject: what audit events and logs may name. */
  async subjectRef(subject: string): Promise<string> {
    if (!this.#indexKey) {
      let wrapped = await this.#store.getMeta(INDEX_KEY);
      if (wrapped === undefined) {
        await this.#store.setMeta(
          INDEX_KEY,
          (await this.#provider.wrap(this.#random(32), INDEX_LABEL)).toString('base64'),
        );
        wrapped = (await this.#store.getMeta(INDEX_KEY))!;
      }
      this.#indexKey = await this.#provider.unwrap(Buffer.from(wrapped, 'base64'), INDEX_LABEL);
    }
    return `subj_${createHmac('sha256', this.#indexKey).update(subject, 'utf8').digest('base64url')}`;
  }

  async encrypt(
    subject: string,
    items: readonly { plaintext: Uint8Array; context?: EncryptionContext }[],
  ): Promise<string[]> {
    const ref = await this.subjectRef(subject);
    const key = await this.#key(ref, true);
    return items.map((item) =>
      formatCiphertext(
        SUBJECT_VERSION,
        sealGcm(key, this.#nonces.next(), aad(ref, item.context), item.plaintext),
      ),
    );
  }

  async decrypt(
    subject: string,
    items: readonly { ciphertext: string; context?: EncryptionContext }[],
  ): Promise<ItemResult<Buffer>[]> {
    const ref = await this.subjectRef(subject);
    const key = await this.#key(ref, false);
    const out: ItemResult<Buffer>[] = [];
    for (const item of items) {
      out.push(
        await settle(() => {
          const { version, payload } = parseCiphertext(item.ciphertext);
          if (version !== SUBJECT_VERSION)
            throw keysError('keys_version_unknown', 'subject ciphertexts are version 1');
          return openGcm(key, aad(ref, item.context), payload);
        }),
      );
    }
    return out;
  }

  /** Erases the subject's key for good; resolves to false when it was already erased. */
  async erase(subject: string): Promise<boolean> {
    return this.#store.eraseSubject(
      await this.subjectRef(subject),
      new Date(this.#clock.now()).toISOString(),
    );
  }

  async #key(ref: string, create: boolean) {
    let row = await this.#store.getSubject(ref);
    if (!row && create) {
      const secret = this.#random(32);
      await this.#store.insertSubject(
        ref,
        await this.#provider.wrap(secret, `subject:${ref}`),
        new Date(this.#clock.now()).toISOString(),
      );
      secret.fill(0);
      row = await this.#store.getSubject(ref);
    }
    if (row?.erasedAt)
      throw keysError('keys_subject_erased', 'this subject was erased; its data is unreadable');
    if (!row?.material)
      throw keysError(
        'keys_decrypt_failed',
        'the ciphertext does not authenticate under this key and context',
      );
    const secret = await this.#provider.unwrap(row.material, `subject:${ref}`);
    const key = createSecretKey(secret);
    secret.fill(0);
    return key;
  }
}

function aad(ref: string, context: EncryptionContext | undefined): Buffer {
  return Buffer.from(`bulwark:${ref}:v${SUBJECT_VERSION}:subject\n${canonicalContext(context)}`, 'utf8');
}
