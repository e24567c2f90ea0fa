/**
 * The log: appends records in order (group commit: concurrent batches share one transaction), keeps the
 * tile tree, and answers proofs. A batch is acknowledged only after its transaction has committed
 * (SQLite WAL with synchronous=FULL, or PostgreSQL COMMIT), so an acknowledged record survives a crash.
 */
import type { Store } from '../../core/index.ts';
import { auditError } from '../errors.ts';
import { canonicalJson } from '../record/canonical-json.ts';
import { leafData } from '../record/leaf-data.ts';
import type { AuditRecord } from '../record/record-schema.ts';
import { leafHash } from '../verifier/tree-hash.ts';
import {
  bodiesFrom,
  findByIds,
  insertRecords,
  insertTiles,
  logSize,
  readTile,
  type StoredRow,
} from './record-store.ts';
import { TileTree } from './tile-tree.ts';

export interface AppendResult {
  id: string;
  index: number;
  /** True when the record was already in the log (an idempotent retry). */
  duplicate: boolean;
}

interface Pending {
  records: AuditRecord[];
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

  private constructor(store: Store, tree: TileTree) {
    this.store = store;
    this.tree = tree;
  }

  static async open(store: Store): Promise<AuditLog> {
    const size = await logSize(store);
    const tree = await TileTree.load(
      size,
      (level, index) => readTile(store, level, index),
      async (start) => (await bodiesFrom(store, start, size)).map((r) => leafHash(r.body)),
    );
    return new AuditLog(store, tree);
  }

  get size(): number {
    return this.tree.size;
  }

  /** Appends validated records; resolves once they are committed. */
  append(records: AuditRecord[]): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ records, resolve, reject });
      this.#writing ??= this.#drain().finally(() => {
        this.#writing = undefined;
      });
    });
  }

  async #drain(): Promise<void> {
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
  }

  async #commit(group: Pending[]): Promise<(AppendResult[] | Error)[]> {
    const ids = [...new Set(group.flatMap((p) => p.records.map((r) => r.id)))];
    let prepared: { commit(): void } | undefined;
    const results = await this.store.transaction(async (tx) => {
      const existing = await findByIds(tx, ids);
      const rows: StoredRow[] = [];
      const leaves: Buffer[] = [];
      const seen = new Map<string, { index: number; record: AuditRecord }>();
      let next = this.tree.size;
      const results = group.map((p): AppendResult[] | Error => {
        // First pass: a batch with any conflicting id is refused whole, so nothing of it is half-written.
        // Content is compared only for ids seen before (rare: retries), so the hot path serialises once.
        const local = new Map<string, AuditRecord>();
        for (const record of p.records) {
          const old = existing.get(record.id);
          const prior = seen.get(record.id)?.record ?? local.get(record.id);
          if (old || prior) {
            const content = canonicalJson(record);
            const same = old ? withoutIndex(old.body) === content : canonicalJson(prior) === content;
            if (!same) {
              return auditError(
                'audit_id_conflict',
                `record ${record.id} is already in the log with different content`,
                {
                  details: { field: 'id', id: record.id },
                },
              );
            }
          }
          local.set(record.id, record);
        }
        const out: AppendResult[] = [];
        for (const record of p.records) {
          const old = existing.get(record.id);
          const prior = seen.get(record.id);
          if (old || prior) {
            out.push({ id: record.id, index: old ? old.idx : prior!.index, duplicate: true });
            continue;
          }
          const index = next++;
          const body = leafData(record, index);
          rows.push({
            idx: index,
            id: record.id,
            time: record.time,
            category: record.category,
            actor: record.actor.id,
            action: record.action,
            outcome: record.outcome,
            component: record.source?.component ?? null,
            body,
          });
          leaves.push(leafHash(body));
          seen.set(record.id, { index, record });
          out.push({ id: record.id, index, duplicate: false });
        }
        return out;
      });
      const step = this.tree.prepare(leaves);
      await insertRecords(tx, rows);
      await insertTiles(tx, step.tiles);
      prepared = step;
      return results;
    });
    // The store resolves `transaction` only after COMMIT: the tree in memory follows the durable state.
    prepared?.commit();
    this.onCommit?.();
    return results;
  }
}
