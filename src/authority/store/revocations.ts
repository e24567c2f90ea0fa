/**
 * Revocation of workloads. Revoking a SPIFFE ID revokes the identity itself (no SVID is issued for it until
 * a new join token lifts the revocation, see identity-guard.ts), burns its unused join tokens and revokes
 * every unexpired SVID issued for it; each revoked serial gets a row with a sequence number, so sidecars and SDKs fetch only what is new (`after=<seq>`)
 * and can long-poll for it: a revoked identity is refused everywhere within about a second, not at expiry.
 * Rows are served until the certificate expires; after that the certificate is refused anyway.
 */
import { EventEmitter, once } from 'node:events';
import type { Clock, Store } from '../../core/index.ts';
import { lockIdentity } from './identity-guard.ts';

export interface RevocationEntry {
  seq: number;
  serial: string;
  spiffeId: string;
  revokedAt: number;
  notAfter: number;
}

export class Revocations {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #changed = new EventEmitter();

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
    this.#changed.setMaxListeners(0);
  }

  /** Revokes the identity `spiffeId` and every live SVID of it; returns the serials revoked. */
  async revoke(spiffeId: string, reason: string): Promise<string[]> {
    const now = this.#clock.now();
    const serials = await this.#store.transaction(async (tx) => {
      // Same lock as issuance: every SVID committed before this point is in the SELECT below, every
      // issuance after it sees the identity revocation and is refused.
      await lockIdentity(this.#store.engine, tx, spiffeId);
      await tx.execute(
        `INSERT INTO authority_identity_revocation (spiffe_id, revoked_at, reason) VALUES (?, ?, ?)
         ON CONFLICT (spiffe_id) DO UPDATE SET revoked_at = excluded.revoked_at, reason = excluded.reason`,
        [spiffeId, now, reason],
      );
      // A join token made before the revocation (possibly held by the attacker) must not reinstate it.
      await tx.execute(
        'UPDATE authority_join_token SET used_at = ? WHERE spiffe_id = ? AND used_at IS NULL',
        [now, spiffeId],
      );
      const rows = await tx.query<{ serial: string; not_after: number }>(
        'SELECT serial, not_after FROM authority_svid WHERE spiffe_id = ? AND revoked_at IS NULL AND not_after > ?',
        [spiffeId, now],
      );
      for (const row of rows) {
        await tx.execute('UPDATE authority_svid SET revoked_at = ? WHERE serial = ?', [now, row.serial]);
        await tx.execute(
          'INSERT INTO authority_revocation (serial, spiffe_id, revoked_at, not_after, reason) VALUES (?, ?, ?, ?, ?)',
          [row.serial, spiffeId, now, Number(row.not_after), reason],
        );
      }
      return rows.map((r) => r.serial);
    });
    this.#changed.emit('changed');
    return serials;
  }

  /**
   * Whether an SVID this authority issued is revoked, itself or through its identity (unknown serials
   * count as revoked).
   */
  async isRevoked(serial: string): Promise<boolean> {
    const [row] = await this.#store.query<{ revoked_at: number | null; identity_revoked: string | null }>(
      `SELECT s.revoked_at, r.spiffe_id AS identity_revoked FROM authority_svid s
       LEFT JOIN authority_identity_revocation r ON r.spiffe_id = s.spiffe_id WHERE s.serial = ?`,
      [serial],
    );
    return !row || row.revoked_at !== null || row.identity_revoked !== null;
  }

  /**
   * Entries after `after` still relevant (certificate not expired). With `waitMs`, waits up to that long
   * for a new revocation when there is none yet (long poll).
   */
  async since(after: number, waitMs = 0): Promise<{ sequence: number; entries: RevocationEntry[] }> {
    let result = await this.#read(after);
    const deadline = this.#clock.now() + waitMs;
    while (result.entries.length === 0 && waitMs > 0 && this.#clock.now() < deadline) {
      // Woken by a local revocation, or re-read each second for revocations made by another replica.
      const signal = AbortSignal.timeout(Math.min(1000, Math.max(1, deadline - this.#clock.now())));
      await once(this.#changed, 'changed', { signal }).catch(() => undefined);
      result = await this.#read(after);
    }
    return result;
  }

  async #read(after: number): Promise<{ sequence: number; entries: RevocationEntry[] }> {
    const rows = await this.#store.query<{
      seq: number;
      serial: string;
      spiffe_id: string;
      revoked_at: number;
      not_after: number;
    }>(
      'SELECT seq, serial, spiffe_id, revoked_at, not_after FROM authority_revocation WHERE seq > ? AND not_after > ? ORDER BY seq',
      [after, this.#clock.now()],
    );
    const [max] = await this.#store.query<{ m: number | null }>(
      'SELECT MAX(seq) AS m FROM authority_revocation',
    );
    return {
      sequence: Number(max?.m ?? 0),
      entries: rows.map((r) => ({
        seq: Number(r.seq),
        serial: r.serial,
        spiffeId: r.spiffe_id,
        revokedAt: Number(r.revoked_at),
        notAfter: Number(r.not_after),
      })),
    };
  }
}
