/**
 * The worker side of SqliteWriter: owns the audit log's SQLite write connection, so that the fsync of each
 * COMMIT (which blocks the calling thread in `node:sqlite`) and the B-tree work of the inserts run beside
 * the event loop instead of on it. It receives finished segments and tiles and answers once they are
 * committed; it never decides what goes in the log.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { Queryable, Row, SqlValue } from '../../core/index.ts';
import { leafHash } from '../verifier/tree-hash.ts';
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

function hashLeaves(segments: Segment[]): ArrayBuffer {
  let n = 0;
  for (const seg of segments) n += seg.n;
  const out = new Uint8Array(n * 32);
  let at = 0;
  for (const seg of segments)
    for (const body of seg.bodies.split('\n')) {
      out.set(leafHash(body), at);
      at += 32;
    }
  return out.buffer;
}

async function handle(req: WriteRequest): Promise<void> {
  const reply: WriteReply = { id: req.id };
  try {
    if (req.op === 'hash') {
      pending = req.segments;
      reply.leaves = hashLeaves(req.segments);
    } else if (req.op === 'write') {
      const segments = pending;
      pending = [];
      db.exec('BEGIN IMMEDIATE');
      await insertSegments(tx, segments);
      await insertTiles(tx, req.tiles);
      db.exec('COMMIT');
    } else if (req.op === 'execute') {
      await tx.execute(req.sql, req.params);
    } else {
      db.close();
      parentPort!.close();
      return;
    }
  } catch (err) {
    if (db.isOpen && db.isTransaction) db.exec('ROLLBACK');
    reply.error = err instanceof Error ? err.message : String(err);
  }
  parentPort!.postMessage(reply, reply.leaves ? [reply.leaves] : []);
}

// The segments of the group being appended, between its `hash` and its `write` (groups go one at a time).
let pending: Segment[] = [];
// Requests are handled strictly in order.
let chain = Promise.resolve();
parentPort!.on('message', (req: WriteRequest) => {
  chain = chain.then(() => handle(req));
});
