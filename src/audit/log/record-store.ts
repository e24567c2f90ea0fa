/**
 * All SQL of the audit log, on core's Store (SQLite or PostgreSQL). Writes are INSERTs only: there is no
 * UPDATE or DELETE of a record anywhere in this file except pruning below the retention floor, which the
 * database triggers also confine. A batch is stored as segments (see migrations.ts): one row of canonical
 * leaf bodies, multi-row INSERTs of its ids and of its distinct search terms, all in one transaction.
 */
import type { Queryable, SqlValue, Store } from '../../core/index.ts';
import type { FullTile } from './tile-tree.ts';

/**
 * One ingest batch as stored: the canonical leaf bodies of consecutive records from `first`, joined by
 * newlines (canonical JSON never holds a raw newline), and their ids. Until it is written, a segment holds
 * each record's leaf data cut where its index goes (`heads[i] + (first + i) + tails[i]`, see `leafParts`):
 * short strings cross to the writer thread cheaply, and the writer lays the bodies out as bytes in a reused
 * buffer (sqlite-writer-worker.ts) instead of a fresh string of hundreds of kilobytes per batch.
 */
export interface Segment {
  first: number;
  n: number;
  minTime: string;
  maxTime: string;
  heads: string[];
  tails: string[];
  ids: string[];
  /** Distinct search terms (`<field>=<value>`) of the segment's records. */
  terms: string[];
}

/** A segment's leaf bodies, one per record (stored joined by newlines). */
export function segmentBodies(seg: Segment): string[] {
  const bodies: string[] = new Array(seg.n);
  for (let i = 0; i < seg.n; i++) bodies[i] = seg.heads[i]! + (seg.first + i) + seg.tails[i]!;
  return bodies;
}

/** Most records in one segment (a larger batch is split), so that reading one record stays cheap. */
export const SEGMENT_MAX = 1000;
const IDS_PER_STATEMENT = 500;

export function searchTerm(field: string, value: string): string {
  return `${field}=${value}`;
}

/**
 * Inserts segments with their ids and terms. `bodies[k]` is segment k's stored text, as a string or, on
 * SQLite only, as its UTF-8 bytes (stored as TEXT all the same).
 */
export async function insertSegments(
  tx: Queryable,
  segments: readonly Segment[],
  bodies: readonly (string | Uint8Array)[],
): Promise<void> {
  for (const [k, seg] of segments.entries()) {
    const text = bodies[k]!;
    // CAST keeps the column TEXT (readers split it as a string) for bytes bound as a BLOB: same bytes.
    const value = typeof text === 'string' ? '?' : 'CAST(? AS TEXT)';
    await tx.execute(
      `INSERT INTO audit_segment (first_idx, n, min_time, max_time, bodies) VALUES (?, ?, ?, ?, ${value})`,
      [seg.first, seg.n, seg.minTime, seg.maxTime, text],
    );
    const ids = seg.ids;
    for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
      const n = Math.min(IDS_PER_STATEMENT, ids.length - i);
      const params: SqlValue[] = new Array(n * 2);
      for (let k = 0; k < n; k++) {
        params[2 * k] = ids[i + k]!;
        params[2 * k + 1] = seg.first + i + k;
      }
      await tx.execute(`INSERT INTO audit_record_id (id, idx) VALUES ${placeholders(n, 2)}`, params);
    }
    const terms = seg.terms;
    for (let i = 0; i < terms.length; i += IDS_PER_STATEMENT) {
      const chunk = terms.slice(i, i + IDS_PER_STATEMENT);
      const params: SqlValue[] = [];
      for (const t of chunk) params.push(t, seg.first);
      await tx.execute(`INSERT INTO audit_term (term, seg) VALUES ${placeholders(chunk.length, 2)}`, params);
    }
  }
}

function placeholders(rows: number, columns: number): string {
  const one = `(${Array(columns).fill('?').join(',')})`;
  return Array(rows).fill(one).join(',');
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

/** Indexes of the existing records among `ids` (idempotent retries). */
export async function findByIds(q: Queryable, ids: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
    const chunk = ids.slice(i, i + IDS_PER_STATEMENT);
    const rows = await q.query<{ id: string; idx: number }>(
      `SELECT id, idx FROM audit_record_id WHERE id IN (${Array(chunk.length).fill('?').join(',')})`,
      chunk,
    );
    for (const r of rows) out.set(r.id, Number(r.idx));
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
  const [row] = await q.query<{ first_idx: number; n: number }>(
    'SELECT first_idx, n FROM audit_segment ORDER BY first_idx DESC LIMIT 1',
  );
  return row ? Number(row.first_idx) + Number(row.n) : 0;
}

export interface StoredSegment {
  first: number;
  bodies: string[];
}

/** Segments holding any index in [start, end), in index order (bodies split, not parsed). */
export async function segmentsFrom(q: Queryable, start: number, end: number): Promise<StoredSegment[]> {
  // A segment holds at most SEGMENT_MAX records, so the one holding `start` begins no earlier than this,
  // which keeps the lookup on the primary key.
  const rows = await q.query<{ first_idx: number; bodies: string }>(
    'SELECT first_idx, bodies FROM audit_segment WHERE first_idx > ? AND first_idx < ? ORDER BY first_idx',
    [start - SEGMENT_MAX, end],
  );
  const out: StoredSegment[] = [];
  for (const r of rows) {
    const first = Number(r.first_idx);
    const bodies = r.bodies.split('\n');
    if (first + bodies.length > start) out.push({ first, bodies });
  }
  return out;
}

/**
 * The `/entries` text for [start, end), at or above the retention floor: `<index> <body>\n` per record,
 * built from the stored bytes without decoding them into strings or encoding them back (`verify` reads
 * every record through it; decoding, re-joining and re-encoding was most of the server's CPU there).
 * Stops before a line that would take the text past `maxBytes` (always keeping one): `end` is the index
 * to go on from, `end` as asked when the whole range is there.
 */
export async function entriesFrom(
  store: Store,
  start: number,
  end: number,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<{ bytes: Buffer; end: number }> {
  const from = Math.max(start, await minIndex(store));
  // Bodies as bytes: SQLite returns a BLOB cast as a Uint8Array, PostgreSQL a bytea as a Buffer.
  const bytes = store.engine === 'sqlite' ? 'CAST(bodies AS BLOB)' : "convert_to(bodies, 'UTF8')";
  const lines: { index: string; body: Uint8Array }[] = [];
  let size = 0;
  // Segments are read a few at a time, so an answer capped at `maxBytes` never holds more of them.
  let cursor = from - SEGMENT_MAX;
  let reached = end;
  read: for (;;) {
    const rows = await store.query<{ first_idx: number; bodies: Uint8Array }>(
      `SELECT first_idx, ${bytes} AS bodies FROM audit_segment WHERE first_idx > ? AND first_idx < ? ORDER BY first_idx LIMIT ${ENTRY_SEGMENTS_PER_READ}`,
      [cursor, end],
    );
    for (const row of rows) {
      const all = Buffer.from(row.bodies.buffer, row.bodies.byteOffset, row.bodies.byteLength);
      let index = Number(row.first_idx);
      cursor = index;
      for (let at = 0; at <= all.length && index < end; index++) {
        const newline = all.indexOf(10, at);
        const stop = newline < 0 ? all.length : newline;
        if (index >= from) {
          const line = { index: `${index} `, body: all.subarray(at, stop) };
          const lineSize = line.index.length + line.body.length + 1;
          // At least one line, so a reader going on from `end` always moves forward.
          if (lines.length > 0 && size + lineSize > maxBytes) {
            reached = index;
            break read;
          }
          lines.push(line);
          size += lineSize;
        }
        if (newline < 0) break;
        at = newline + 1;
      }
    }
    if (rows.length < ENTRY_SEGMENTS_PER_READ) break;
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const { index, body } of lines) {
    o += out.write(index, o, 'latin1');
    out.set(body, o);
    o += body.length;
    out[o++] = 10;
  }
  return { bytes: out, end: reached };
}

/** Segments `entriesFrom` reads per query (at most ~16,000 records between two checks of its byte cap). */
const ENTRY_SEGMENTS_PER_READ = 16;

/** Stored bodies with their positions in [start, end), at or above the retention floor. */
export async function bodiesFrom(
  q: Queryable,
  start: number,
  end: number,
): Promise<{ idx: number; body: string }[]> {
  const from = Math.max(start, await minIndex(q));
  const out: { idx: number; body: string }[] = [];
  for (const seg of await segmentsFrom(q, from, end)) {
    const lo = Math.max(from - seg.first, 0);
    const hi = Math.min(end - seg.first, seg.bodies.length);
    for (let k = lo; k < hi; k++) out.push({ idx: seg.first + k, body: seg.bodies[k]! });
  }
  return out;
}

export async function recordAt(q: Queryable, idx: number): Promise<string | undefined> {
  if (idx < (await minIndex(q))) return undefined;
  const [row] = await q.query<{ first_idx: number; bodies: string }>(
    'SELECT first_idx, bodies FROM audit_segment WHERE first_idx <= ? ORDER BY first_idx DESC LIMIT 1',
    [idx],
  );
  return row ? row.bodies.split('\n')[idx - Number(row.first_idx)] : undefined;
}

export async function recordById(
  q: Queryable,
  id: string,
): Promise<{ idx: number; body: string } | undefined> {
  const [row] = await q.query<{ idx: number }>('SELECT idx FROM audit_record_id WHERE id = ?', [id]);
  if (!row) return undefined;
  const idx = Number(row.idx);
  const body = await recordAt(q, idx);
  return body === undefined ? undefined : { idx, body };
}

/**
 * Stored bodies of the records among `ids`, by id (for the crypto-shredder's `storedBodies`: what
 * `SELECT id, body FROM audit_record WHERE id IN (...)` gave before segments).
 */
export async function bodiesByIds(q: Queryable, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [id, idx] of await findByIds(q, ids)) {
    const body = await recordAt(q, idx);
    if (body !== undefined) out.set(id, body);
  }
  return out;
}

export type StoredCheckpoint = {
  size: number;
  note: string;
  created: string;
};

export async function insertCheckpoint(
  store: { execute(sql: string, params: SqlValue[]): Promise<unknown> },
  cp: StoredCheckpoint,
): Promise<void> {
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

/**
 * The latest checkpoint, if its tree contains `index` (then every later reader can compare the proof with
 * the checkpoint they already hold; an earlier one would need a consistency proof as well).
 */
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
