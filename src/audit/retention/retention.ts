/**
 * Retention per category (SOX: 7 years for financial records, HIPAA: 6 years for health records) with
 * legal holds. Pruning never cuts a hole in the log: it moves one minimum index forward, to a tile
 * boundary, over records that have all expired and are not held. The leaf hashes of pruned records stay
 * in the stored tiles, so every proof and checkpoint remains valid.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable, Store } from '../../core/index.ts';
import { Mutex } from '../../core/internal/mutex.ts';
import type { AuditContext } from '../api/audit-context.ts';
import { auditError } from '../errors.ts';
import { bodiesFrom, minIndex, SEGMENT_MAX } from '../log/record-store.ts';
import { TILE_WIDTH } from '../log/tile-tree.ts';
import { type AuditRecord, expired } from '../record/record-schema.ts';

export interface LegalHold {
  id: string;
  category: string | null;
  fromIndex: number | null;
  toIndex: number | null;
  reason: string;
  created: string;
}

interface HoldRow {
  id: string;
  category: string | null;
  from_index: number | null;
  to_index: number | null;
  reason: string;
  created: string;
  [k: string]: unknown;
}

export class Retention {
  readonly #ctx: AuditContext;
  #timer: NodeJS.Timeout | undefined;
  /** The latest clock reading a prune that removed ids judged by (see `now`). */
  #prunedAt = Number.NEGATIVE_INFINITY;
  /**
   * Placing a hold and pruning run one at a time: a prune decides on the holds it read before scanning,
   * so a hold acknowledged during its scan would otherwise be passed over by the floor it then sets.
   */
  readonly #holdsLock = new Mutex();

  constructor(ctx: AuditContext) {
    this.#ctx = ctx;
  }

  start(): void {
    const every = this.#ctx.settings.pruneIntervalMs;
    if (every > 0) {
      this.#timer = setInterval(
        () => void this.prune().catch((err) => this.#ctx.logger.error({ err }, 'prune failed')),
        every,
      );
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * The clock the log judges new records by: never earlier than a prune's that removed ids, so a retry of
   * a record it removed does not get in when the clock is stepped back.
   */
  now(): number {
    return Math.max(this.#ctx.clock.now(), this.#prunedAt);
  }

  get retentionDays(): Readonly<Record<string, number>> {
    return this.#ctx.settings.retentionDays;
  }

  async holds(): Promise<LegalHold[]> {
    const rows = await this.#ctx.store.query<HoldRow>(
      'SELECT id, category, from_index, to_index, reason, created FROM audit_hold ORDER BY created',
    );
    return rows.map((r) => ({
      id: r.id,
      category: r.category,
      fromIndex: r.from_index === null ? null : Number(r.from_index),
      toIndex: r.to_index === null ? null : Number(r.to_index),
      reason: r.reason,
      created: r.created,
    }));
  }

  addHold(
    hold: { category?: string; fromIndex?: number; toIndex?: number; reason: string },
    actor: string,
  ): Promise<LegalHold> {
    return this.#holdsLock.run(() => this.#addHold(hold, actor));
  }

  async #addHold(
    hold: { category?: string; fromIndex?: number; toIndex?: number; reason: string },
    actor: string,
  ): Promise<LegalHold> {
    const row: LegalHold = {
      id: randomUUID(),
      category: hold.category ?? null,
      fromIndex: hold.fromIndex ?? null,
      toIndex: hold.toIndex ?? null,
      reason: hold.reason,
      created: new Date(this.#ctx.clock.now()).toISOString(),
    };
    if (row.fromIndex !== null && row.toIndex !== null && row.fromIndex > row.toIndex) {
      throw auditError('audit_range', 'fromIndex is after toIndex');
    }
    await this.#ctx.store.transaction(async (tx) => {
      // Behind the floor's row lock: another process's prune either sees this hold or commits first.
      await lockFloor(tx, this.#ctx.store.engine);
      await tx.execute(
        'INSERT INTO audit_hold (id, category, from_index, to_index, reason, created) VALUES (?, ?, ?, ?, ?, ?)',
        [row.id, row.category, row.fromIndex, row.toIndex, row.reason, row.created],
      );
    });
    await this.#selfAudit('audit.hold.create', actor, row.id, {
      category: row.category,
      fromIndex: row.fromIndex,
      toIndex: row.toIndex,
    });
    return row;
  }

  async releaseHold(id: string, actor: string): Promise<void> {
    const n = await this.#ctx.store.execute('DELETE FROM audit_hold WHERE id = ?', [id]);
    if (n === 0) throw auditError('audit_not_found', 'no legal hold with that id');
    await this.#selfAudit('audit.hold.release', actor, id, {});
  }

  /** Moves the minimum index forward over expired, unheld records. Returns the new and old floors. */
  prune(actor = 'audit'): Promise<{ minIndex: number; previous: number }> {
    return this.#holdsLock.run(() => this.#prune(actor));
  }

  async #prune(actor: string): Promise<{ minIndex: number; previous: number }> {
    const { store, log, checkpointer, clock } = this.#ctx;
    const previous = await minIndex(store);
    // Never past the last checkpoint in the stored history (verifiers check pruned leaf hashes against it),
    // and never the newest record (the log's size lives in it).
    const limit = Math.min(log.size - 1, checkpointer.stored?.size ?? 0);
    const holds = await this.holds();
    const now = clock.now();
    let stop = previous;
    scan: while (stop < limit) {
      const rows = await bodiesFrom(store, stop, Math.min(limit, stop + SEGMENT_MAX));
      if (rows.length === 0) break;
      for (const r of rows) {
        const { time, category } = JSON.parse(r.body) as { time: string; category: string };
        const gone = expired(this.retentionDays, category, Date.parse(time), now);
        if (!gone || holds.some((h) => held(h, r.idx, category))) {
          stop = r.idx;
          break scan;
        }
        stop = r.idx + 1;
      }
    }
    const floor = Math.floor(stop / TILE_WIDTH) * TILE_WIDTH;
    if (floor <= previous) return { minIndex: previous, previous };
    // Before any id goes: appends from now on judge expiry by this clock reading at the earliest.
    this.#prunedAt = Math.max(this.#prunedAt, now);
    const moved = await store.transaction(async (tx) => {
      // The mutex only orders this process. Another one (a replica, or its prune timer) may have placed a
      // hold since the holds were read, or moved the floor: under the floor's row lock, which placing a
      // hold takes too, a hold this scan did not see, or a floor that moved, leaves the floor where it is.
      const [current] = await lockFloor(tx, store.engine);
      const ids = await tx.query<{ id: string }>('SELECT id FROM audit_hold');
      const seen = new Set(holds.map((h) => h.id));
      if (Number(current?.min_index) !== previous || ids.some((h) => !seen.has(h.id))) return false;
      await tx.execute('UPDATE audit_floor SET min_index = ? WHERE id = 1', [floor]);
      // Whole segments below the floor go; one straddling it stays, and readers hide its records below
      // the floor. Search terms of removed segments go with them.
      await tx.execute('DELETE FROM audit_segment WHERE first_idx + n <= ?', [floor]);
      await tx.execute('DELETE FROM audit_record_id WHERE idx < ?', [floor]);
      await tx.execute(
        'DELETE FROM audit_term WHERE seg < ? AND NOT EXISTS (SELECT 1 FROM audit_segment s WHERE s.first_idx = audit_term.seg)',
        [floor],
      );
      return true;
    });
    if (!moved) return { minIndex: previous, previous };
    await this.#selfAudit('audit.retention.prune', actor, String(floor), { previous, minIndex: floor });
    return { minIndex: floor, previous };
  }

  /** The audit service's own administrative actions go into its own log. */
  async #selfAudit(
    action: string,
    actor: string,
    target: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    const record: AuditRecord = {
      id: randomUUID(),
      time: new Date(this.#ctx.clock.now()).toISOString(),
      actor: { type: 'system', id: actor },
      action,
      target: { type: 'audit', id: target },
      outcome: 'success',
      source: { component: 'audit' },
      category: 'security',
      details: Object.fromEntries(Object.entries(details).filter(([, v]) => v !== null)),
    };
    await this.#ctx.log.append([record]);
  }
}

/** Locks the floor's row (PostgreSQL; a SQLite write transaction already excludes other writers). */
function lockFloor(tx: Queryable, engine: Store['engine']): Promise<{ min_index: number }[]> {
  return tx.query<{ min_index: number }>(
    `SELECT min_index FROM audit_floor WHERE id = 1${engine === 'postgres' ? ' FOR UPDATE' : ''}`,
  );
}

/** Whether hold `h` covers the record of `category` at index `idx`. */
export function held(h: LegalHold, idx: number, category: string): boolean {
  return (
    (h.category === null || h.category === category) &&
    (h.fromIndex === null || idx >= h.fromIndex) &&
    (h.toIndex === null || idx <= h.toIndex)
  );
}
