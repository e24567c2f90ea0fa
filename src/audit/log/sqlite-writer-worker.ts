/**
 * The worker side of SqliteWriter: owns the audit log's SQLite write connection, so that the fsync of each
 * COMMIT (which blocks the calling thread in `node:sqlite`) and the B-tree work of the inserts run beside
 * the event loop instead of on it. It receives finished segments and tiles and answers once they are
 * committed; it never decides what goes in the log.
 */
import { hash } from 'node:crypto';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { Queryable, Row, SqlValue } from '../../core/index.ts';
import { insertSegments, insertTiles, type Segment } from './record-store.ts';
import type { FullTile } from './tile-tree.ts';

/**
 * Messages: `hash` hands over a group's segments and gets their leaf hashes back (32 bytes each, in order);
 * `write` then commits those segments with the tiles they complete; `execute` runs one other write (a
 * checkpoint row) in its own transaction, so the main thread never waits on SQLite's write lock.
 */
export type WriteRequest =
  | { id: number; op: 'hash'; segments: Segment[] }
  | { id: number; op: 'write'; tiles: FullTile[] }
  | { id: number; op: 'execute'; sql: string; params: SqlValue[] }
  | { id: number; op: 'close' };

export interface WriteReply {
  id: number;
  leaves?: ArrayBuffer;
  error?: string;
}

const { path } = workerData as { path: string };
const db = new DatabaseSync(path);
// The same durability as core's SQLite store (WAL, synchronous=FULL), plus the audit store's larger cache.
db.exec(
  'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 8192;',
);
const statements = new Map<string, StatementSync>();
const prepare = (sql: string): StatementSync => {
  let s = statements.get(sql);
  if (!s) {
    s = db.prepare(sql);
    statements.set(sql, s);
  }
  return s;
};
const bind = (params: readonly SqlValue[] = []) => params as SQLInputValue[];
const tx: Queryable = {
  query: async <T extends Row>(sql: string, params?: readonly SqlValue[]) =>
    prepare(sql).all(...bind(params)) as T[],
  execute: async (sql, params) => Number(prepare(sql).run(...bind(params)).changes),
};

/**
 * The group being appended, laid out as bytes between its `hash` and its `write` (groups go one at a
 * time): per segment one byte, then its leaf bodies joined by newlines. The byte before each body is where
 * its leaf hash gets the RFC 9162 0x00 prefix, so every leaf is hashed from this buffer without a string of
 * its own, and each segment's text is bound from it without building one. The buffer is kept and reused:
 * a fresh allocation of a few hundred kilobytes per batch costs more in page faults than the copying.
 */
const AREA_START = 1 << 20;
/** Kept between groups up to this size; a burst of large records does not hold its buffer for good. */
const AREA_KEPT = 16 << 20;
let area = Buffer.allocUnsafe(AREA_START);
let pending: { segments: Segment[]; texts: Buffer[] } = { segments: [], texts: [] };

function reserve(used: number, more: number): void {
  if (used + more <= area.length) return;
  const grown = Buffer.allocUnsafe(Math.max(area.length * 2, used + more));
  area.copy(grown, 0, 0, used);
  area = grown;
}

function layOut(segments: Segment[]): { leaves: ArrayBuffer; texts: Buffer[] } {
  let n = 0;
  for (const seg of segments) n += seg.n;
  // Offsets, not views: `area` may grow (and move) while the group is laid out.
  const starts = new Array<number>(n);
  const ends = new Array<number>(n);
  let at = 0;
  let leaf = 0;
  for (const seg of segments) {
    reserve(at, 1);
    at++;
    for (let i = 0; i < seg.n; i++, leaf++) {
      const body = seg.heads[i]! + (seg.first + i) + seg.tails[i]!;
      // A UTF-16 code unit is at most 3 bytes of UTF-8; one more for the newline.
      reserve(at, body.length * 3 + 1);
      starts[leaf] = at;
      at += area.write(body, at);
      ends[leaf] = at;
      area[at++] = 0x0a;
    }
  }
  const leaves = new Uint8Array(n * 32);
  const texts: Buffer[] = [];
  leaf = 0;
  for (const seg of segments) {
    texts.push(area.subarray(starts[leaf]!, ends[leaf + seg.n - 1]!));
    for (let i = 0; i < seg.n; i++, leaf++) {
      const prefix = starts[leaf]! - 1;
      const separator = area[prefix]!;
      area[prefix] = 0x00;
      leaves.set(hash('sha256', area.subarray(prefix, ends[leaf]), 'buffer'), leaf * 32);
      area[prefix] = separator;
    }
  }
  return { leaves: leaves.buffer, texts };
}

async function handle(req: WriteRequest): Promise<void> {
  const reply: WriteReply = { id: req.id };
  try {
    if (req.op === 'hash') {
      const { leaves, texts } = layOut(req.segments);
      pending = { segments: req.segments, texts };
      reply.leaves = leaves;
    } else if (req.op === 'write') {
      const { segments, texts } = pending;
      pending = { segments: [], texts: [] };
      try {
        db.exec('BEGIN IMMEDIATE');
        await insertSegments(tx, segments, texts);
        await insertTiles(tx, req.tiles);
        db.exec('COMMIT');
      } finally {
        if (area.length > AREA_KEPT) area = Buffer.allocUnsafe(AREA_START);
      }
    } else if (req.op === 'execute') {
      await tx.execute(req.sql, req.params);
    } else {
      db.close();
      parentPort!.close();
      return;
    }
  } catch (err) {
    reply.error = err instanceof Error ? err.message : String(err);
    try {
      if (db.isOpen && db.isTransaction) db.exec('ROLLBACK');
    } catch (rollback) {
      // Still answered: a call left without a reply would hold its append (and every later one) for good.
      reply.error += `; rollback failed: ${rollback instanceof Error ? rollback.message : String(rollback)}`;
    }
  }
  parentPort!.postMessage(reply, reply.leaves ? [reply.leaves] : []);
}

// Requests are handled strictly in order.
let chain = Promise.resolve();
parentPort!.on('message', (req: WriteRequest) => {
  chain = chain.then(() => handle(req));
});
