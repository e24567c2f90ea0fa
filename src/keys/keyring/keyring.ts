/**
 * The named keys: creation, versions, rotation (by command, on a schedule, by usage count),
 * `min_decryption_version`, trimming, and a cache of unwrapped versions. Unwrapped secrets live only in
 * this cache as KeyObjects; the store holds them wrapped by the master key.
 *
 * Cluster mode: several replicas share the store. Usage is reserved in blocks with an atomic UPDATE, so the
 * per-version limit holds across replicas (unused reservations of a crashed replica count as used, the safe
 * direction). Key settings are re-read after `cacheTtlMs`, so a rotation or a new minimum made elsewhere
 * applies here within that time.
 */
import type { Clock } from '../../core/index.ts';
import type { KeyProvider, RandomSource } from '../../core/keys-provider/index.ts';
import { MAX_VERSION } from '../crypto/ciphertext.ts';
import { keysError } from '../errors.ts';
import type { KeyRecord, KeyStore } from '../store/key-store.ts';
import { generateMaterial, type LoadedVersion, loadMaterial, wrapLabel } from './key-material.ts';
import { DEFAULT_MAX_USES, type KeyAcl, type KeyType } from './key-types.ts';

export interface KeyringOptions {
  store: KeyStore;
  provider: KeyProvider;
  clock: Clock;
  random: RandomSource;
  /** How long key settings are cached before being re-read from the store. */
  cacheTtlMs: number;
  /** Limit of encryptions per version for keys created without one. */
  defaultMaxUses?: number;
}

export interface CreateKeyInput {
  name: string;
  type: KeyType;
  rotationPeriodMs?: number | null;
  maxUsesPerVersion?: number;
  acl?: KeyAcl;
}

export interface KeySettingsPatch {
  minDecryptionVersion?: number;
  rotationPeriodMs?: number | null;
  maxUsesPerVersion?: number;
  acl?: KeyAcl;
}

interface CacheEntry {
  record: KeyRecord;
  fetchedAt: number;
  versions: Map<number, LoadedVersion>;
  /** Uses reserved in the store but not consumed yet, per version. */
  reserved: Map<number, number>;
}

const MASTER_CHECK = 'master_check';
const MASTER_CHECK_LABEL = 'bulwark:master-check';
/** Uses reserved per store round trip (bounded by a 64th of the version limit, for small limits). */
const RESERVATION_BLOCK = 4096;
const COUNTED_TYPES: readonly KeyType[] = ['aes256-gcm', 'aes256-gcm-siv'];

export class Keyring {
  readonly #o: KeyringOptions;
  readonly #cache = new Map<string, CacheEntry>();

  constructor(options: KeyringOptions) {
    this.#o = options;
  }

  /**
   * Checks that the provider holds the same master key as when the store was first used: a wrong
   * passphrase fails here, at start, instead of at the first decryption.
   */
  async init(): Promise<void> {
    const check = await this.#o.store.getMeta(MASTER_CHECK);
    if (check === undefined) {
      const wrapped = await this.#o.provider.wrap(this.#o.random(32), MASTER_CHECK_LABEL);
      await this.#o.store.setMeta(MASTER_CHECK, wrapped.toString('base64'));
      return;
    }
    try {
      (await this.#o.provider.unwrap(Buffer.from(check, 'base64'), MASTER_CHECK_LABEL)).fill(0);
    } catch (cause) {
      throw keysError(
        'keys_master_key_invalid',
        'the master key does not match the one this store was created with',
        {
          cause,
          expose: true,
        },
      );
    }
  }

  async create(input: CreateKeyInput): Promise<KeyRecord> {
    const now = this.#o.clock.now();
    const record: KeyRecord = {
      name: input.name,
      type: input.type,
      latestVersion: 1,
      minDecryptionVersion: 1,
      minAvailableVersion: 1,
      rotationPeriodMs: input.rotationPeriodMs ?? null,
      maxUsesPerVersion: input.maxUsesPerVersion ?? this.#o.defaultMaxUses ?? DEFAULT_MAX_USES,
      acl: input.acl ?? {},
      createdAt: new Date(now).toISOString(),
      rotatedAtMs: now,
    };
    const row = await this.#newVersion(input.name, 1, input.type);
    if (!(await this.#o.store.createKey(record, row))) {
      throw keysError('keys_key_exists', `key ${input.name} already exists`);
    }
    return record;
  }

  /** The key's settings, from the cache when fresh. */
  async record(name: string): Promise<KeyRecord> {
    return (await this.#entry(name)).record;
  }

  async list(): Promise<KeyRecord[]> {
    return this.#o.store.listKeys();
  }

  async versions(name: string) {
    await this.#entry(name, true);
    return this.#o.store.listVersions(name);
  }

  /** Adds a version and makes it the one new encryptions use. Resolves to the latest version. */
  async rotate(name: string): Promise<number> {
    const { record } = await this.#entry(name, true);
    const next = record.latestVersion + 1;
    if (next > MAX_VERSION)
      throw keysError('keys_invalid_version_setting', `key ${name} has no versions left`);
    const row = await this.#newVersion(name, next, record.type);
    // When another replica rotated first, its version stands and this one is dropped.
    await this.#o.store.addVersion(name, record.latestVersion, row, this.#o.clock.now());
    return (await this.#entry(name, true)).record.latestVersion;
  }

  /** Rotates every key whose rotation period has passed; resolves to the names rotated. */
  async rotateDue(): Promise<string[]> {
    const now = this.#o.clock.now();
    const due = (await this.#o.store.listKeys()).filter(
      (k) => k.rotationPeriodMs !== null && now - k.rotatedAtMs >= k.rotationPeriodMs,
    );
    for (const key of due) await this.rotate(key.name);
    return due.map((k) => k.name);
  }

  async configure(name: string, patch: KeySettingsPatch): Promise<KeyRecord> {
    const { record } = await this.#entry(name, true);
    const min = patch.minDecryptionVersion ?? record.minDecryptionVersion;
    if (!Number.isInteger(min) || min < record.minAvailableVersion || min > record.latestVersion) {
      throw keysError(
        'keys_invalid_version_setting',
        `min_decryption_version must be between ${record.minAvailableVersion} (oldest kept) and ${record.latestVersion} (latest)`,
      );
    }
    const maxUses = patch.maxUsesPerVersion ?? record.maxUsesPerVersion;
    await this.#o.store.updateSettings(name, {
      minDecryptionVersion: min,
      minAvailableVersion: record.minAvailableVersion,
      rotationPeriodMs:
        patch.rotationPeriodMs === undefined ? record.rotationPeriodMs : patch.rotationPeriodMs,
      maxUsesPerVersion: maxUses,
      acl: patch.acl ?? record.acl,
    });
    return (await this.#entry(name, true)).record;
  }

  /**
   * Deletes every version below `minAvailableVersion` for good. Only versions that can no longer decrypt
   * (below `min_decryption_version`) may go, so trimming never breaks data that is still readable.
   */
  async trim(name: string, minAvailableVersion: number): Promise<number> {
    const { record } = await this.#entry(name, true);
    if (
      minAvailableVersion < record.minAvailableVersion ||
      minAvailableVersion > record.minDecryptionVersion
    ) {
      throw keysError(
        'keys_invalid_version_setting',
        `min_available_version must be between ${record.minAvailableVersion} and min_decryption_version ${record.minDecryptionVersion}; raise min_decryption_version first`,
      );
    }
    const removed = await this.#o.store.trimBelow(name, minAvailableVersion);
    const entry = await this.#entry(name, true);
    for (const v of entry.versions.keys()) if (v < minAvailableVersion) entry.versions.delete(v);
    return removed;
  }

  /**
   * The latest version with `count` encryptions reserved. When the reservation would pass the version's
   * limit, the key is rotated first (automatic rotation well before NIST SP 800-38D §8.3's 2^32).
   */
  async latestFor(name: string, count: number): Promise<LoadedVersion> {
    let entry = await this.#entry(name);
    const { record } = entry;
    if (!COUNTED_TYPES.includes(record.type)) return this.#version(entry, record.latestVersion);
    if (count > record.maxUsesPerVersion) {
      throw keysError(
        'keys_invalid_version_setting',
        `a batch of ${count} exceeds the key's uses per version`,
      );
    }
    for (let attempt = 0; attempt < 8; attempt++) {
      const v = entry.record.latestVersion;
      const available = entry.reserved.get(v) ?? 0;
      if (available >= count) {
        entry.reserved.set(v, available - count);
        return this.#version(entry, v);
      }
      const block = Math.max(
        count - available,
        Math.min(RESERVATION_BLOCK, Math.ceil(entry.record.maxUsesPerVersion / 64)),
      );
      if (await this.#o.store.reserveUses(name, v, block, entry.record.maxUsesPerVersion)) {
        entry.reserved.set(v, available + block - count);
        return this.#version(entry, v);
      }
      entry.reserved.delete(v);
      await this.rotate(name);
      entry = await this.#entry(name);
    }
    throw keysError(
      'keys_invalid_version_setting',
      `key ${name} could not reserve uses; check max_uses_per_version`,
    );
  }

  /** A version for decryption or verification; refreshes once when the cache does not know it. */
  async version(name: string, version: number): Promise<{ loaded: LoadedVersion; record: KeyRecord }> {
    let entry = await this.#entry(name);
    if (version > entry.record.latestVersion || version < entry.record.minDecryptionVersion) {
      entry = await this.#entry(name, true);
    }
    const { record } = entry;
    if (version < record.minAvailableVersion || version > record.latestVersion) {
      throw keysError('keys_version_unknown', `key ${name} has no version ${version}`);
    }
    if (version < record.minDecryptionVersion) {
      throw keysError(
        'keys_version_below_minimum',
        `version ${version} is below min_decryption_version ${record.minDecryptionVersion} of key ${name}`,
      );
    }
    return { loaded: await this.#version(entry, version), record };
  }

  async #entry(name: string, refresh = false): Promise<CacheEntry> {
    const cached = this.#cache.get(name);
    const now = this.#o.clock.now();
    if (cached && !refresh && now - cached.fetchedAt < this.#o.cacheTtlMs) return cached;
    const record = await this.#o.store.getKey(name);
    if (!record) {
      this.#cache.delete(name);
      throw keysError('keys_key_not_found', `no key named ${name}`);
    }
    const entry = cached ?? { record, fetchedAt: now, versions: new Map(), reserved: new Map() };
    entry.record = record;
    entry.fetchedAt = now;
    this.#cache.set(name, entry);
    return entry;
  }

  async #version(entry: CacheEntry, version: number): Promise<LoadedVersion> {
    const hit = entry.versions.get(version);
    if (hit) return hit;
    const { name, type } = entry.record;
    const row = await this.#o.store.getVersion(name, version);
    if (!row) throw keysError('keys_version_unknown', `key ${name} has no version ${version}`);
    const secret = await this.#o.provider.unwrap(row.material, wrapLabel(name, version, type));
    const loaded = loadMaterial(name, version, type, secret, row.publicKey);
    secret.fill(0);
    entry.versions.set(version, loaded);
    return loaded;
  }

  async #newVersion(name: string, version: number, type: KeyType) {
    const { secret, publicKey } = generateMaterial(type, this.#o.random);
    const material = await this.#o.provider.wrap(secret, wrapLabel(name, version, type));
    secret.fill(0);
    return { version, material, publicKey, createdAt: new Date(this.#o.clock.now()).toISOString() };
  }
}
