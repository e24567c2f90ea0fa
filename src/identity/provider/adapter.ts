/**
 * oidc-provider's storage adapter contract (upsert, find, findByUid, findByUserCode, consume, destroy,
 * revokeByGrantId) on core storage, so artefacts live in SQLite or PostgreSQL like everything else.
 *
 * Two Bulwark rules sit here:
 * - refresh-token rotation grace: a rotated refresh token presented again within `graceMs` of its
 *   rotation is treated as unconsumed (two concurrent refreshes from one app must not log the user out);
 *   after that, a reuse is reuse and oidc-provider revokes the grant (RFC 9700 §4.14.2).
 * - grant revocation: JWT access tokens are never stored, so destroying stored artefacts stops nothing;
 *   `revokeByGrantId` also records the grant as revoked, which introspection and gateways check.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Clock, Store } from '../../core/index.ts';

export interface AdapterHooks {
  /** Called once per revoked grant (whatever the model that triggered it). */
  onGrantRevoked(grantId: string): Promise<void>;
}

interface Row {
  payload: string;
  expires_at: number | null;
  consumed_at: number | null;
  [key: string]: unknown;
}

/** Client metadata is read on every token request; a short cache keeps that off the database. */
const CLIENT_CACHE_MS = 2000;

export function adapterFactory(
  store: Store,
  clock: Clock,
  hooks: AdapterHooks,
  options: { graceMs: number },
) {
  const clientCache = new Map<string, { at: number; payload: AdapterPayload | undefined }>();
  const revokedGrants = new Map<string, number>();

  return class BulwarkAdapter implements Adapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }

    /** Drops cached client metadata (admin changes call it; other replicas see the change within 2 s). */
    static invalidateClient(id: string): void {
      clientCache.delete(id);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const expiresAt = expiresIn ? clock.now() + expiresIn * 1000 : null;
      const values = [
        JSON.stringify(payload),
        payload.grantId ?? null,
        payload.uid ?? null,
        payload.userCode ?? null,
        expiresAt,
      ];
      await store.execute(
        `INSERT INTO oidc_models (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`,
        [this.model, id, ...values],
      );
      if (this.model === 'Client') clientCache.delete(id);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const hit = clientCache.get(id);
        if (hit && clock.now() - hit.at < CLIENT_CACHE_MS) return hit.payload;
        const payload = await this.#select('id', id);
        clientCache.set(id, { at: clock.now(), payload });
        return payload;
      }
      return this.#select('id', id);
    }

    findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#select('uid', uid);
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#select('user_code', userCode);
    }

    async consume(id: string): Promise<void> {
      const now = clock.now();
      const [row] = await store.query<Row>('SELECT payload FROM oidc_models WHERE model = ? AND id = ?', [
        this.model,
        id,
      ]);
      if (!row) return;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      payload.consumed = Math.floor(now / 1000);
      // Only the first consumption sets consumed_at: the grace window never slides.
      await store.execute(
        'UPDATE oidc_models SET payload = ?, consumed_at = COALESCE(consumed_at, ?) WHERE model = ? AND id = ?',
        [JSON.stringify(payload), now, this.model, id],
      );
    }

    async destroy(id: string): Promise<void> {
      await store.execute('DELETE FROM oidc_models WHERE model = ? AND id = ?', [this.model, id]);
      if (this.model === 'Client') clientCache.delete(id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.execute('DELETE FROM oidc_models WHERE model = ? AND grant_id = ?', [this.model, grantId]);
      // oidc-provider calls this once per model for one revocation; record the grant once.
      const now = clock.now();
      const seen = revokedGrants.get(grantId);
      if (seen !== undefined && now - seen < 60_000) return;
      revokedGrants.set(grantId, now);
      if (revokedGrants.size > 10_000) revokedGrants.clear();
      await hooks.onGrantRevoked(grantId);
    }

    async #select(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      const [row] = await store.query<Row>(
        `SELECT payload, expires_at, consumed_at FROM oidc_models WHERE model = ? AND ${column} = ?`,
        [this.model, value],
      );
      if (!row) return undefined;
      const now = clock.now();
      if (row.expires_at !== null && Number(row.expires_at) <= now) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      if (
        this.model === 'RefreshToken' &&
        row.consumed_at !== null &&
        now - Number(row.consumed_at) <= options.graceMs
      ) {
        // Inside the rotation grace window: a concurrent refresh with the same token still succeeds.
        delete payload.consumed;
      }
      return payload;
    }
  };
}

/** Deletes expired artefacts; run periodically. */
export async function purgeExpired(store: Store, clock: Clock): Promise<number> {
  return store.execute('DELETE FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ?', [
    clock.now(),
  ]);
}
