/**
 * The serialisation point between issuing and revoking for one SPIFFE ID. Revoking a workload revokes its
 * identity (a persistent row in `authority_identity_revocation`), not only the serials that exist when the
 * revocation runs: issuance checks that row, and the serial the caller presents, in the same transaction
 * that records the new SVID, under the same per-identity lock the revocation takes. A renewal in flight
 * during a revocation therefore either commits before it (and its serial is revoked with the others) or
 * sees it (and is refused); no SVID can outlive the revocation. Only a new join token lifts it.
 */
import type { Queryable, Store } from '../../core/index.ts';
import { authorityError } from '../errors.ts';

export interface IdentityRevocation {
  revokedAt: number;
  reason: string;
}

/** Takes the per-identity lock for the rest of the transaction `tx`. */
export async function lockIdentity(engine: Store['engine'], tx: Queryable, spiffeId: string): Promise<void> {
  // SQLite: one connection and BEGIN IMMEDIATE already serialise every write transaction.
  // PostgreSQL: a transaction-scoped advisory lock, released at COMMIT/ROLLBACK, shared by all replicas.
  if (engine === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(hashtext(?))', [spiffeId]);
}

export async function identityRevocation(
  tx: Queryable,
  spiffeId: string,
): Promise<IdentityRevocation | undefined> {
  const [row] = await tx.query<{ revoked_at: number; reason: string }>(
    'SELECT revoked_at, reason FROM authority_identity_revocation WHERE spiffe_id = ?',
    [spiffeId],
  );
  return row ? { revokedAt: Number(row.revoked_at), reason: row.reason } : undefined;
}

/**
 * Throws `authority_svid_refused` unless an SVID may be issued for `spiffeId` now: the identity is not
 * revoked and, for a renewal, the presented SVID is ours, of that identity and not revoked. Call with the
 * lock held ({@link lockIdentity}), in the transaction that inserts the new SVID.
 */
export async function assertIssuable(
  tx: Queryable,
  spiffeId: string,
  presentedSerial?: string,
): Promise<void> {
  if (await identityRevocation(tx, spiffeId)) {
    throw authorityError('authority_svid_refused', `${spiffeId} is revoked`);
  }
  if (presentedSerial === undefined) return;
  // The caller's certificate was checked before the lock: re-read it, a revocation may have committed since.
  const [row] = await tx.query<{ spiffe_id: string; revoked_at: number | null }>(
    'SELECT spiffe_id, revoked_at FROM authority_svid WHERE serial = ?',
    [presentedSerial],
  );
  if (!row || row.revoked_at !== null || row.spiffe_id !== spiffeId) {
    throw authorityError('authority_svid_refused', `the SVID presented for ${spiffeId} is revoked`);
  }
}
