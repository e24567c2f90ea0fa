/**
 * All SQL of the audit log, on core's Store (SQLite or PostgreSQL). Writes are INSERTs only: there is no
 * UPDATE or DELETE of a record anywhere in this file except pruning below the retention floor, which the
 * database triggers also confine. Batches go in as multi-row INSERTs inside one transaction.
 */
import type { Queryable, SqlValue, Store } from '../../core/index.ts';
import type { FullTile } from './tile-tree.ts';

export interface StoredRow {
  idx: number;
  id: string;
  time: string;
  category: string;
  actor: string;
  action: string;
  outcome: string;
  component: string | null;
  body: string;
}

const RECORD_COLUMNS = 9;
const ROWS_PER_STATEMENT = 200;

function placeholders(rows: number, columns: number): string {
  const one = `(${Array(columns).fill('?').join(',')})`;
  return Array(rows).fill(one).join(',');
}

export async function insertRecords(tx: Queryable, rows: readonly StoredRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    const params: SqlValue[] = [];
    for (const r of chunk)
      params.push(r.idx, r.id, r.time, r.category, r.actor, r.action, r.outcome, r.component, r.body);
    await tx.execute(
      `INSERT INTO audit_record (idx, id, time, category, actor, action, outcome, component, body) VALUES ${placeholders(chunk.length, RECORD_COLUMNS)}`,
      params,
    );
  }
}

export async function insertTiles(tx: Queryable, tiles: readonly FullTile[]): Promise<void> {
  for (const t of tiles) {
    await tx.execute('INSERT INTO audit_tile (level, idx, hashes) VALUES (?, ?, ?)', [
      t.level,
      t.index,
      t.hashes,
    ]);
  }
}

/** Existing records among `ids` (idempotent retries). */
export async function findByIds(
  q: Queryable,
  ids: readonly string[],
): Promise<Map<string, { idx: number; body: string }>> {
  const out = new Map<string, { idx: number; body: string }>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await q.query<{ id: string; idx: number; body: string }>(
      `SELECT id, idx, body FROM audit_record WHERE id IN (${Array(chunk.length).fill('?').join(',')})`,
      chunk,
    );
    for (const r of rows) out.set(r.id, { idx: Number(r.idx), body: r.body });
  }
  return out;
}

export async function readTile(q: Queryable, level: number, index: number): Promise<Uint8Array | undefined> {
  const [row] = await q.query<{ hashes: Uint8Array }>(
    'SELECT hashes FROM audit_tile WHERE level = ? AND idx = ?',
    [level, index],
  );
  return row?.hashes;
}

export async function logSize(q: Queryable): Promise<number> {
  const [row] = await q.query<{ n: number | null }>('SELECT MAX(idx) AS n FROM audit_record');
  return row?.n === null || row?.n === undefined ? 0 : Number(row.n) + 1;
}

export async function bodiesFrom(
  q: Queryable,
  start: number,
  end: number,
): Promise<{ idx: number; body: string }[]> {
  const rows = await q.query<{ idx: number; body: string }>(
    'SELECT idx, body FROM audit_record WHERE idx >= ? AND idx < ? ORDER BY idx',
    [start, end],
  );
  return rows.map((r) => ({ idx: Number(r.idx), body: r.body }));
}

export async function recordById(
  q: Queryable,
  id: string,
): Promise<{ idx: number; body: string } | undefined> {
  const [row] = await q.query<{ idx: number; body: string }>(
    'SELECT idx, body FROM audit_record WHERE id = ?',
    [id],
  );
  return row ? { idx: Number(row.idx), body: row.body } : undefined;
}

export type StoredCheckpoint = {
  size: number;
  note: string;
  created: string;
};

export async function insertCheckpoint(store: Store, cp: StoredCheckpoint): Promise<void> {
  await store.execute('INSERT INTO audit_checkpoint (size, note, created) VALUES (?, ?, ?)', [
    cp.size,
    cp.note,
    cp.created,
  ]);
}

export async function latestCheckpoint(q: Queryable): Promise<StoredCheckpoint | undefined> {
  const [row] = await q.query<StoredCheckpoint>(
    'SELECT size, note, created FROM audit_checkpoint ORDER BY size DESC LIMIT 1',
  );
  return row ? { ...row, size: Number(row.size) } : undefined;
}

/** The first checkpoint whose tree contains `index` (smallest size > index). */
export async function checkpointCovering(q: Queryable, index: number): Promise<StoredCheckpoint | undefined> {
  const [row] = await q.query<StoredCheckpoint>(
    'SELECT size, note, created FROM audit_checkpoint WHERE size > ? ORDER BY size DESC LIMIT 1',
    [index],
  );
  return row ? { ...row, size: Number(row.size) } : undefined;
}

export async function checkpointAt(q: Queryable, size: number): Promise<StoredCheckpoint | undefined> {
  const [row] = await q.query<StoredCheckpoint>(
    'SELECT size, note, created FROM audit_checkpoint WHERE size = ?',
    [size],
  );
  return row ? { ...row, size: Number(row.size) } : undefined;
}

export async function listCheckpoints(
  q: Queryable,
  after: number,
  limit: number,
): Promise<StoredCheckpoint[]> {
  const rows = await q.query<StoredCheckpoint>(
    'SELECT size, note, created FROM audit_checkpoint WHERE size > ? ORDER BY size LIMIT ?',
    [after, limit],
  );
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

export async function minIndex(q: Queryable): Promise<number> {
  const [row] = await q.query<{ min_index: number }>('SELECT min_index FROM audit_floor WHERE id = 1');
  return Number(row?.min_index ?? 0);
}
