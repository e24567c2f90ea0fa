/**
 * The log: appends records in order (group commit: concurrent batches share one transaction), keeps the
 * tile tree, and answers proofs. A batch is acknowledged only after its transaction has committed
 * (SQLite WAL with synchronous=FULL, or PostgreSQL COMMIT), so an acknowledged record survives a crash.
 */
import type { Queryable, SqlValue, Store } from '../../core/index.ts';
import { auditError } from '../errors.ts';
import { canonicalJson } from '../record/canonical-json.ts';
import { contentOf } from '../record/leaf-data.ts';
import { type AuditRecord, expired } from '../record/record-schema.ts';
import { held, type LegalHold } from '../retention/retention.ts';
import { leafHash } from '../verifier/tree-hash.ts';
import { type LogEntry, logEntry } from './log-entry.ts';
import {
  bodiesFrom,
  findByIds,
  insertSegments,
  insertTiles,
  logSize,
  readTile,
  recordAt,
  SEGMENT_MAX,
  type Segment,
  searchTerm,
  segmentBodies,
} from './record-store.ts';
import { SqliteWriter } from './sqlite-writer.ts';
import { type FullTile, TileTree } from './tile-tree.ts';

export interface AppendResult {
  id: string;
  index: number;
  /** True when the record was already in the log (an idempotent retry). */
  duplicate: boolean;
}

/** What the log reads of retention to refuse records that pruning would remove at once. */
export interface RetentionView {
  /** Never earlier than the clock a prune judged by: a clock stepped back reopens nothing it removed. */
  now(): number;
  readonly retentionDays: Readonly<Record<string, number>>;
  holds(): Promise<readonly LegalHold[]>;
}

interface Pending {
  records: LogEntry[];
  resolve(results: AppendResult[]): void;
  reject(err: unknown): void;
}

/** Most records committed in one transaction when batches queue up. */
const GROUP_LIMIT = 8000;

function withoutIndex(body: string): string {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  delete parsed['index'];
  return canonicalJson(parsed);
}

export class AuditLog {
  readonly store: Store;
  readonly tree: TileTree;
  #queue: Pending[] = [];
  /** Called after each committed group (the checkpointer uses it so a checkpoint never waits on a timer). */
  onCommit: (() => void) | undefined;
  #writing: Promise<void> | undefined;

  readonly #writer: SqliteWriter | undefined;
  /** Retention, when the log has it (see `useRetention`). */
  #retention: RetentionView | undefined;

  private constructor(store: Store, tree: TileTree, writer: SqliteWriter | undefined) {
    this.store = store;
    this.tree = tree;
    this.#writer = writer;
  }

  /**
   * Runs a write that is not an append (a checkpoint row) on the writer connection when there is one, so
   * it never waits on SQLite's write lock on the event loop.
   */
  async execute(sql: string, params: SqlValue[]): Promise<void> {
    if (this.#writer) await this.#writer.execute(sql, params);
    else await this.store.execute(sql, params);
  }

  /** Closes the writer thread (the store is closed by its owner). */
  async close(): Promise<void> {
    await this.#writer?.close();
  }

  static async open(store: Store): Promise<AuditLog> {
    const size = await logSize(store);
    const tree = await TileTree.load(
      size,
      (level, index) => readTile(store, level, index),
      async (start) => (await bodiesFrom(store, start, size)).map((r) => leafHash(r.body)),
    );
    return new AuditLog(store, tree, await SqliteWriter.open(store));
  }

  /**
   * From now on, a new record that pruning would remove at once (past its category's retention and under no
   * legal hold at the index it would get) is refused with `audit_expired`, its whole batch with it. Pruning
   * removes the ids of what it removes, so such a record may be a late retry of one already pruned: it would
   * otherwise be stored a second time. A record under a hold is kept, however old.
   */
  useRetention(retention: RetentionView): void {
    this.#retention = retention;
  }

  get size(): number {
    return this.tree.size;
  }

  /** Appends validated records; resolves once they are committed. */
  append(records: AuditRecord[]): Promise<AppendResult[]> {
    return this.appendEntries(records.map(logEntry));
  }

  /** Appends records already made into entries (by an ingest worker); resolves once they are committed. */
  appendEntries(records: LogEntry[]): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ records, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    // The queue is let go of in the same step that finds it empty. Cleared in a reaction after this
    // function's promise settled, it stayed taken while the callers resolved by the last group ran first:
    // an append one of them made then was queued behind a drain that had ended, and waited for the next.
    try {
      while (this.#queue.length > 0) {
        const group: Pending[] = [];
        let count = 0;
        while (
          this.#queue.length > 0 &&
          (group.length === 0 || count + this.#queue[0]!.records.length <= GROUP_LIMIT)
        ) {
          const next = this.#queue.shift()!;
          group.push(next);
          count += next.records.length;
        }
        try {
          const results = await this.#commit(group);
          group.forEach((p, i) => {
            const r = results[i]!;
            if (r instanceof Error) p.reject(r);
            else p.resolve(r);
          });
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  async #commit(group: Pending[]): Promise<(AppendResult[] | Error)[]> {
    let results: (AppendResult[] | Error)[];
    let step: { tiles: FullTile[]; commit(): void };
    const writer = this.#writer;
    if (writer) {
      // Groups commit one after another and only this process appends, so the read connection sees every
      // id committed before this group.
      // Leaf hashing happens in the writer thread too.
      const plan = await this.#plan(this.store, group);
      step = this.tree.prepare(await writer.hash(plan.segments));
      await writer.write(step.tiles);
      results = plan.results;
    } else {
      [results, step] = await this.store.transaction(async (tx) => {
        const plan = await this.#plan(tx, group);
        const leaves: Buffer[] = [];
        const texts = plan.segments.map((seg) => {
          const bodies = segmentBodies(seg);
          for (const body of bodies) leaves.push(leafHash(body));
          return bodies.join('\n');
        });
        const prepared = this.tree.prepare(leaves);
        await insertSegments(tx, plan.segments, texts);
        await insertTiles(tx, prepared.tiles);
        return [plan.results, prepared] as const;
      });
    }
    // Resolved only after COMMIT: the tree in memory follows the durable state.
    step.commit();
    this.onCommit?.();
    return results;
  }

  /** Works out the new records of a group, refusing whole batches with a conflicting id. */
  async #plan(
    tx: Queryable,
    group: Pending[],
  ): Promise<{ results: (AppendResult[] | Error)[]; segments: Segment[] }> {
    const ids = [...new Set(group.flatMap((p) => p.records.map((r) => r.id)))];
    const existing = await findByIds(tx, ids);
    // The clock is read after the ids: a prune that removed some of them read it earlier (see `pruning`).
    const retention = this.#retention;
    const now = retention ? retention.now() : 0;
    let holds: readonly LegalHold[] | undefined;
    const builders: SegmentBuilder[] = [];
    const seen = new Map<string, { index: number; record: LogEntry }>();
    let next = this.tree.size;
    const results: (AppendResult[] | Error)[] = [];
    for (const p of group) {
      // First pass: a batch with any conflicting id is refused whole, so nothing of it is half-written.
      // Content is compared only for ids seen before (rare: retries), so the hot path serialises once.
      const local = new Map<string, LogEntry>();
      let conflict: Error | undefined;
      let index = next;
      for (const [k, record] of p.records.entries()) {
        const old = existing.get(record.id);
        const prior = seen.get(record.id)?.record ?? local.get(record.id);
        if (old === undefined && !prior && retention) {
          const at = index++;
          if (expired(retention.retentionDays, record.category, Date.parse(record.time), now)) {
            holds ??= await retention.holds();
            if (!holds.some((h) => held(h, at, record.category))) {
              conflict = auditError(
                'audit_expired',
                `records[${k}].time is older than the retention of category ${record.category}: the log would prune it at once`,
                { details: { field: `records[${k}].time` } },
              );
              break;
            }
          }
        }
        if (old !== undefined || prior) {
          const content = contentOf(record);
          const stored = old === undefined ? undefined : await recordAt(tx, old);
          const same =
            old !== undefined
              ? stored !== undefined && withoutIndex(stored) === content
              : contentOf(prior!) === content;
          if (!same) {
            conflict = auditError(
              'audit_id_conflict',
              `record ${record.id} is already in the log with different content`,
              { details: { field: 'id', id: record.id } },
            );
            break;
          }
        }
        local.set(record.id, record);
      }
      if (conflict) {
        results.push(conflict);
        continue;
      }
      const out: AppendResult[] = [];
      let seg: SegmentBuilder | undefined;
      for (const record of p.records) {
        const old = existing.get(record.id);
        const prior = seen.get(record.id);
        if (old !== undefined || prior) {
          out.push({ id: record.id, index: old ?? prior!.index, duplicate: true });
          continue;
        }
        const index = next++;
        if (!seg || seg.size >= SEGMENT_MAX) {
          seg = new SegmentBuilder(index, record.time);
          builders.push(seg);
        }
        seg.add(record);
        seen.set(record.id, { index, record });
        out.push({ id: record.id, index, duplicate: false });
      }
      results.push(out);
    }
    return { results, segments: builders.map((b) => b.build()) };
  }
}

/** Collects one segment's records; search terms are added only when they differ from the last record's. */
class SegmentBuilder {
  readonly #first: number;
  #minTime: string;
  #maxTime: string;
  readonly #heads: string[] = [];
  readonly #tails: string[] = [];
  readonly #ids: string[] = [];
  readonly #terms = new Set<string>();
  #last: LogEntry | undefined;

  constructor(first: number, time: string) {
    this.#first = first;
    this.#minTime = time;
    this.#maxTime = time;
  }

  get size(): number {
    return this.#ids.length;
  }

  add(r: LogEntry): void {
    this.#heads.push(r.head);
    this.#tails.push(r.tail);
    this.#ids.push(r.id);
    if (r.time < this.#minTime) this.#minTime = r.time;
    if (r.time > this.#maxTime) this.#maxTime = r.time;
    const last = this.#last;
    const terms = this.#terms;
    if (last?.actor !== r.actor) terms.add(searchTerm('actor', r.actor));
    if (last?.action !== r.action) terms.add(searchTerm('action', r.action));
    if (last?.outcome !== r.outcome) terms.add(searchTerm('outcome', r.outcome));
    if (last?.category !== r.category) terms.add(searchTerm('category', r.category));
    if (r.component !== undefined && last?.component !== r.component)
      terms.add(searchTerm('component', r.component));
    this.#last = r;
  }

  build(): Segment {
    return {
      first: this.#first,
      n: this.#ids.length,
      minTime: this.#minTime,
      maxTime: this.#maxTime,
      heads: this.#heads,
      tails: this.#tails,
      ids: this.#ids,
      terms: [...this.#terms],
    };
  }
}
