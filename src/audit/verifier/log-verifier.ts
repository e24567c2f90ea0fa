/**
 * Whole-log verification for outsiders: every checkpoint signature, every record re-hashed and checked
 * against its position, the stored tiles, and the root of every checkpoint (which also proves each
 * checkpoint consistent with every earlier one: all are prefixes of the one leaf sequence re-hashed here),
 * and trusted anchors kept outside the database (a rollback shows as a log shorter than an anchor).
 * Reads the log through a {@link LogSource}; depends on no Bulwark storage.
 */
import { type Checkpoint, openCheckpoint } from './checkpoint.ts';
import type { NoteVerifier } from './signed-note.ts';
import { CompactRange, leafHash } from './tree-hash.ts';
import { type VerificationCode, VerificationError } from './verification-error.ts';

export interface LogSource {
  /** Number of records the log claims to hold. */
  size(): Promise<number>;
  /** First index still stored (records below were pruned by retention). */
  minIndex(): Promise<number>;
  /** Every signed checkpoint, smallest size first. */
  checkpoints(): Promise<string[]>;
  /** Records in [start, end) as `{ index, body }`, in index order (gaps show as missing indexes). */
  entries(start: number, end: number): Promise<{ index: number; body: string }[]>;
  /** Stored leaf hashes of [start, end), 32 bytes each. */
  leafHashes(start: number, end: number): Promise<Buffer>;
}

export interface LogFailure {
  code: VerificationCode;
  /** First index that cannot be trusted. */
  index: number | null;
  message: string;
}

export interface LogReport {
  ok: boolean;
  size: number;
  minIndex: number;
  checkpointsVerified: number;
  lastCheckpointSize: number;
  /** Records after the last signed checkpoint (not yet covered by a signature). */
  unsignedTail: number;
  failure: LogFailure | null;
}

export interface VerifyLogOptions {
  logKey: NoteVerifier;
  origin?: string;
  /** Signed checkpoints kept outside the database (WORM anchors, a previous run's last checkpoint). */
  anchors?: readonly string[];
  onProgress?: (done: number, total: number) => void;
  batch?: number;
}

/**
 * @example
 * const report = await verifyLog(httpLogSource(url), { logKey: parseVerifierKey(vkey) });
 * if (!report.ok) console.log(report.failure.code, report.failure.index);
 */
export async function verifyLog(source: LogSource, o: VerifyLogOptions): Promise<LogReport> {
  const size = await source.size();
  const min = await source.minIndex();
  const report: LogReport = {
    ok: true,
    size,
    minIndex: min,
    checkpointsVerified: 0,
    lastCheckpointSize: 0,
    unsignedTail: 0,
    failure: null,
  };
  const fail = (code: VerificationCode, index: number | null, message: string): LogReport => {
    report.ok = false;
    report.failure ??= { code, index, message };
    return report;
  };

  // 1. Checkpoint signatures. The first one that does not verify ends the trusted sequence.
  const checkpoints: Checkpoint[] = [];
  for (const note of await source.checkpoints()) {
    const coveredUpTo = checkpoints.at(-1)?.size ?? 0;
    try {
      const cp = openCheckpoint(note, o.logKey, o.origin);
      if (cp.size < coveredUpTo)
        return fail('rolled_back', cp.size, `checkpoint sizes go backwards (${coveredUpTo} then ${cp.size})`);
      checkpoints.push(cp);
    } catch (err) {
      const e = err as VerificationError;
      fail(
        e.code ?? 'bad_signature',
        coveredUpTo,
        `a checkpoint after size ${coveredUpTo} is not signed by the trusted log key: ${e.message}`,
      );
      break;
    }
  }
  report.checkpointsVerified = checkpoints.length;
  for (const note of o.anchors ?? []) {
    try {
      checkpoints.push(openCheckpoint(note, o.logKey, o.origin));
    } catch (err) {
      return fail(
        (err as VerificationError).code ?? 'bad_signature',
        null,
        `an anchor checkpoint does not verify: ${(err as Error).message}`,
      );
    }
  }
  checkpoints.sort((a, b) => a.size - b.size);
  const trusted = checkpoints.at(-1)?.size ?? 0;
  report.lastCheckpointSize = trusted;

  // 2. Re-hash every leaf and compare roots at every checkpoint size.
  const range = new CompactRange();
  let next = 0;
  let cpAt = 0;
  let lastGood = 0;
  const checkRoots = (): boolean => {
    while (cpAt < checkpoints.length && checkpoints[cpAt]!.size === range.size) {
      const cp = checkpoints[cpAt++]!;
      if (!range.root().equals(cp.root)) {
        fail(
          'root_mismatch',
          lastGood,
          `records ${lastGood}..${cp.size - 1} do not match the checkpoint signed at size ${cp.size}`,
        );
        return false;
      }
      lastGood = cp.size;
    }
    return true;
  };
  if (!checkRoots()) return report;
  const batch = o.batch ?? 20000;
  // Pruned records: only their stored leaf hashes remain; the checkpoints still bind them.
  for (let start = 0; start < min; start += batch) {
    const end = Math.min(min, start + batch);
    const stored = await source.leafHashes(start, end);
    for (let i = start; i < end; i++) {
      range.append(stored.subarray((i - start) * 32, (i - start + 1) * 32));
      if (!checkRoots()) return report;
    }
    next = end;
  }
  // Fetch the next batch while this one is hashed (network and hashing overlap).
  const fetchBatch = (start: number) => {
    const end = Math.min(size, start + batch);
    return Promise.all([source.entries(start, end), source.leafHashes(start, end)]);
  };
  let pending = next < size ? fetchBatch(next) : undefined;
  for (let start = next; start < size; start += batch) {
    const end = Math.min(size, start + batch);
    const [rows, stored] = await pending!;
    pending = end < size ? fetchBatch(end) : undefined;
    // A failure below returns early; the prefetch must not surface as an unhandled rejection.
    pending?.catch(() => undefined);
    for (const row of rows) {
      if (row.index !== next)
        return fail('missing_record', next, `record ${next} is missing (next stored record is ${row.index})`);
      const declared = declaredIndex(row.body);
      if (declared !== next)
        return fail(
          'record_mismatch',
          next,
          `record stored at ${next} says it belongs at ${String(declared)}`,
        );
      const leaf = leafHash(row.body);
      const kept = stored.subarray((next - start) * 32, (next - start + 1) * 32);
      if (kept.length === 32 && !kept.equals(leaf))
        return fail('leaf_mismatch', next, `record ${next} does not match its stored leaf hash`);
      range.append(leaf);
      next++;
      if (!checkRoots()) return report;
    }
    if (next < end) return fail('missing_record', next, `record ${next} is missing`);
    o.onProgress?.(next, size);
  }
  if (size < trusted)
    return fail(
      'rolled_back',
      size,
      `the log holds ${size} records but a trusted checkpoint covers ${trusted}: it was truncated or rolled back`,
    );
  report.unsignedTail = size - trusted;
  return report;
}

/**
 * The top-level `index` of a leaf without parsing the whole JSON. In RFC 8785 key order `index` follows
 * `id`, and nothing after it can hold a raw `,"index":` (later members are strings, whose quotes are
 * escaped, or objects with fixed keys), so the last occurrence is the top-level member. Whatever a forger
 * writes here, the leaf hash is still checked against the tiles and the signed roots.
 */
function declaredIndex(body: string): number | undefined {
  const at = body.lastIndexOf(',"index":');
  if (at < 0) return undefined;
  let n = 0;
  let i = at + 9;
  for (; i < body.length; i++) {
    const c = body.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return i === at + 9 ? undefined : n;
}

export { VerificationError };
