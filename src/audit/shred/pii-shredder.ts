/**
 * Crypto-shredding of personal data in audit records. At ingest, {@link PiiShredder.normaliseBatch}
 * validates a batch like `normaliseRecord` and then encrypts its personal-data fields under the data
 * subject's key in `keys`, before the log hashes the record: the Merkle leaf covers the ciphertext, so
 * inclusion and consistency proofs (and `bulwark audit verify`) stay valid after the subject's key is
 * erased, while the values become unreadable for good (GDPR Art. 17 without rewriting an append-only log).
 *
 * Which fields, and whose key:
 * - `actor.name` and `source.ip` of a record whose actor is a `user`: the actor's key (role `a`).
 * - values in `details` under the `encryptKeys` names: the key of the record's target when the target is a
 *   person (`subjectTargetTypes`, default `user`: an admin's event about a user carries that user's data),
 *   else the actor's key.
 *
 * Cost: each subject gets a data key (AES-256) made here and wrapped by `keys` under the subject key, one
 * request per subject, cached for `ttlMs` (and `maxUses` values); values are encrypted locally. A batch
 * whose subjects are cached costs no request to `keys`; new subjects are fetched concurrently (at most
 * `concurrency` requests at once). Reads unwrap each distinct data key once per read, one request per
 * subject, never from the writer's cache: an erasure shows at the next read.
 */
import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { canonicalJson } from '../record/canonical-json.ts';
import { type AuditRecord, type NormaliseOptions, normaliseRecord } from '../record/record-schema.ts';
import { normaliseKey } from '../record/sensitive-fields.ts';
import { DEK_CONTEXT, keysUnavailable, pool, type SubjectKeysApi, unwrapDataKeys } from './keys-calls.ts';
import type { ShreddableRecord } from './pii-fields.ts';
import { personalDataSlots, type Slot, sealedValues, valueAt } from './pii-fields.ts';
import {
  ERASED_MARKER,
  isSealedPii,
  openPii,
  type ParsedPii,
  parsePii,
  sealPii,
  UNREADABLE_MARKER,
} from './sealed-pii.ts';

export type { SubjectKeysApi } from './keys-calls.ts';
export type { ShreddableRecord } from './pii-fields.ts';

export interface PiiShredderOptions {
  keys: SubjectKeysApi;
  /**
   * The stored bodies of records already in the log, by id (`bodiesByIds` of the record store). With it, a retried record keeps the ciphertexts it was first stored with, so the
   * log sees the same content and answers `duplicate` rather than `audit_id_conflict` (a fresh seal has a
   * fresh nonce). Without it, retries of sealed records conflict (they are in the log all the same).
   */
  storedBodies?: (ids: readonly string[]) => Promise<ReadonlyMap<string, string>>;
  /** Names in `details` whose values are encrypted (matched like `hashKeys`: case, `-`, `_` ignored). */
  encryptKeys: readonly string[];
  /** Target types whose id is the data subject of `details` (default `['user']`). */
  subjectTargetTypes?: readonly string[];
  /** How long a subject's data key encrypts new values (default 10 min). */
  ttlMs?: number;
  /** Values per data key before a new one is made (default 2^24, far below GCM's 2^32 random nonces). */
  maxUses?: number;
  /** Subjects whose data key is kept (default 10,000). */
  maxCached?: number;
  /** Requests to `keys` in flight at once (default 8). */
  concurrency?: number;
  now?: () => number;
  random?: (size: number) => Buffer;
}

type DataKey =
  | { key: KeyObject; wrapped: string; expires: number; uses: number }
  | { erased: true; expires: number };

/**
 * @example
 * const shredder = new PiiShredder({ keys: keysClient, encryptKeys: ['email', 'phone', 'name'] });
 * const records = await shredder.normaliseBatch(body.records, { policy, now, maxClockSkewMs });
 * await log.append(records);
 * const readable = await shredder.reveal((await searchRecords(ctx, filter)).records); // '[erased]' once shredded
 */
export class PiiShredder {
  readonly #keys: SubjectKeysApi;
  readonly #storedBodies: PiiShredderOptions['storedBodies'];
  readonly #encryptKeys: ReadonlySet<string>;
  readonly #targetTypes: ReadonlySet<string>;
  readonly #ttlMs: number;
  readonly #maxUses: number;
  readonly #maxCached: number;
  readonly #concurrency: number;
  readonly #now: () => number;
  readonly #random: (size: number) => Buffer;
  readonly #cache = new Map<string, DataKey>();
  readonly #pending = new Map<string, Promise<DataKey>>();
  /** Requests made to `keys` for data keys (tests and metrics). */
  wraps = 0;
  /** Drops expired data keys while any are cached (unref'd: never keeps the process up). */
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: PiiShredderOptions) {
    this.#keys = options.keys;
    this.#storedBodies = options.storedBodies;
    this.#encryptKeys = new Set(options.encryptKeys.map(normaliseKey));
    this.#targetTypes = new Set(options.subjectTargetTypes ?? ['user']);
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#maxUses = options.maxUses ?? 2 ** 24;
    this.#maxCached = options.maxCached ?? 10_000;
    this.#concurrency = options.concurrency ?? 8;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? randomBytes;
  }

  /**
   * Validates every record (as `normaliseRecord`, errors naming `records[i]`), then encrypts their
   * personal data. Either every record comes back sealed or the call fails (`upstream_unavailable` when
   * `keys` cannot be reached): nothing is ever returned with a value that should be sealed left in clear.
   */
  async normaliseBatch(inputs: readonly unknown[], options: NormaliseOptions): Promise<AuditRecord[]> {
    const policy = { ...options.policy, encryptKeys: this.#encryptKeys };
    const records = inputs.map((r, i) => normaliseRecord(r, `records[${i}]`, { ...options, policy }));
    const slots = records.flatMap((r) => personalDataSlots(r, this.#encryptKeys, this.#targetTypes));
    const subjects = [...new Set(slots.map((s) => s.subject))];
    const keys = new Map<string, DataKey>();
    await pool(subjects, this.#concurrency, async (subject) => {
      keys.set(subject, await this.#dataKey(subject));
    });
    for (const slot of slots) {
      const dk = keys.get(slot.subject)!;
      if ('erased' in dk) {
        slot.set(ERASED_MARKER); // the subject was erased before this record arrived: store nothing of it
        continue;
      }
      dk.uses++;
      slot.set(sealPii(dk.key, dk.wrapped, slot.role, slot.recordId, slot.path, slot.value, this.#random));
    }
    if (this.#storedBodies && slots.length > 0) await this.#keepStored(slots);
    return records;
  }

  /**
   * Copies of `records` with sealed values decrypted, or {@link ERASED_MARKER} where the subject's key was
   * erased, or {@link UNREADABLE_MARKER} where a value does not authenticate. Throws
   * `upstream_unavailable` when `keys` cannot be reached.
   */
  async reveal<T extends ShreddableRecord>(records: readonly T[]): Promise<T[]> {
    const copies = records.map((r) => structuredClone(r));
    const found: {
      record: T;
      subject: string | undefined;
      parsed: ParsedPii | undefined;
      path: (string | number)[];
      set(v: unknown): void;
    }[] = [];
    for (const record of copies) {
      for (const { path, value, set } of sealedValues(record)) {
        const parsed = parsePii(value);
        const subject = parsed?.role === 't' ? record.target?.id : record.actor.id;
        found.push({ record, subject, parsed, path, set });
      }
    }
    const bySubject = new Map<string, Set<string>>();
    for (const f of found) {
      if (f.subject && f.parsed) {
        const set = bySubject.get(f.subject) ?? new Set<string>();
        bySubject.set(f.subject, set);
        set.add(f.parsed.wrapped);
      }
    }
    const unwrapped = await unwrapDataKeys(this.#keys, bySubject, this.#concurrency);
    // A subject seen erased here stops being written at once, not when its cached data key expires.
    for (const [subject, keys] of unwrapped) {
      if ([...keys.values()].includes('erased'))
        this.#cache.set(subject, { erased: true, expires: this.#now() + this.#ttlMs });
    }
    for (const f of found) {
      const key = f.subject && f.parsed ? unwrapped.get(f.subject)?.get(f.parsed.wrapped) : undefined;
      if (key === 'erased') f.set(ERASED_MARKER);
      else if (key === undefined || key === 'unreadable') f.set(UNREADABLE_MARKER);
      else {
        const value = openPii(key, f.parsed!, f.record.id, f.path);
        f.set(value === undefined ? UNREADABLE_MARKER : value);
      }
    }
    return copies;
  }

  /**
   * Idempotent retries: where a record id is already stored and a stored value at a slot's path is sealed
   * and opens to the same value (or its subject was erased since, so it cannot differ in anything left
   * readable), the stored ciphertext replaces the fresh one.
   */
  async #keepStored(slots: readonly Slot[]): Promise<void> {
    const stored = await this.#storedBodies!([...new Set(slots.map((s) => s.recordId))]);
    if (stored.size === 0) return;
    const matches: { slot: Slot; old: string; parsed: ParsedPii; subject: string }[] = [];
    for (const slot of slots) {
      const body = stored.get(slot.recordId);
      if (body === undefined) continue;
      const old = valueAt(JSON.parse(body) as unknown, slot.path);
      const parsed = isSealedPii(old) ? parsePii(old) : undefined;
      if (parsed && parsed.role === slot.role)
        matches.push({ slot, old: old as string, parsed, subject: slot.subject });
    }
    const bySubject = new Map<string, Set<string>>();
    for (const m of matches) {
      const set = bySubject.get(m.subject) ?? new Set<string>();
      bySubject.set(m.subject, set);
      set.add(m.parsed.wrapped);
    }
    const unwrapped = await unwrapDataKeys(this.#keys, bySubject, this.#concurrency);
    for (const m of matches) {
      const key = unwrapped.get(m.subject)?.get(m.parsed.wrapped);
      if (key === 'erased') m.slot.set(m.old);
      else if (key !== undefined && key !== 'unreadable') {
        const value = openPii(key, m.parsed, m.slot.recordId, m.slot.path);
        if (value !== undefined && canonicalJson(value) === canonicalJson(m.slot.value)) m.slot.set(m.old);
      }
    }
  }

  /** Drops every cached data key (on shutdown, or after an erasure that must stop new writes at once). */
  clear(): void {
    this.#cache.clear();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Data keys held in memory now (tests). */
  get cached(): number {
    return this.#cache.size;
  }

  /**
   * An expired key is never used again, but held until touched or evicted it would keep a subject's raw
   * data key in memory long after its TTL (an erasure's point is that nobody holds it): swept every TTL.
   */
  #sweepLater(): void {
    this.#sweeper ??= setInterval(() => {
      const now = this.#now();
      for (const [subject, entry] of this.#cache) if (entry.expires <= now) this.#cache.delete(subject);
      if (this.#cache.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, this.#ttlMs).unref();
  }

  async #dataKey(subject: string): Promise<DataKey> {
    const now = this.#now();
    const hit = this.#cache.get(subject);
    if (hit && hit.expires > now && ('erased' in hit || hit.uses < this.#maxUses)) return hit;
    let pending = this.#pending.get(subject);
    if (!pending) {
      pending = this.#fetch(subject).finally(() => this.#pending.delete(subject));
      this.#pending.set(subject, pending);
    }
    return pending;
  }

  async #fetch(subject: string): Promise<DataKey> {
    const material = this.#random(32);
    let entry: DataKey;
    try {
      this.wraps++;
      const [wrapped] = await this.#keys.subjectEncrypt(subject, [
        { plaintext: material, context: DEK_CONTEXT },
      ]);
      entry = {
        key: createSecretKey(material),
        wrapped: wrapped!,
        expires: this.#now() + this.#ttlMs,
        uses: 0,
      };
    } catch (err) {
      if ((err as { code?: string }).code !== 'keys_subject_erased') keysUnavailable(err);
      entry = { erased: true, expires: this.#now() + this.#ttlMs };
    } finally {
      material.fill(0);
    }
    this.#cache.delete(subject);
    this.#cache.set(subject, entry);
    this.#sweepLater();
    // Insertion order: the first entries are the oldest.
    while (this.#cache.size > this.#maxCached) this.#cache.delete(this.#cache.keys().next().value!);
    return entry;
  }
}
