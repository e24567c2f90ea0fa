/**
 * Whole-log verification for outsiders: every checkpoint signature, every record re-hashed and checked
 * against its position, the stored tiles, and the root of every checkpoint (which also proves each
 * checkpoint consistent with every earlier one: all are prefixes of the one leaf sequence re-hashed here),
 * and trusted anchors kept outside the database (a rollback shows as a log shorter than an anchor).
 * Reads the log through a {@link LogSource}; depends on no Bulwark storage.
 */
import { type Checkpoint, openCheckpoint } from './checkpoint.ts';
import { inlineLeafHasher, type LeafHasher, workerLeafHasher } from './leaf-hasher.ts';
import type { NoteVerifier } from './signed-note.ts';
import { CompactRange } from './tree-hash.ts';
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
  /**
   * The same as UTF-8 text, one `<index> <body>\n` line per record (the `/entries` wire form); optional,
   * saves a string per record. The verifier may modify the bytes.
   */
  entryBytes?(start: number, end: number): Promise<Uint8Array>;
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
  /**
   * Hash leaves in a worker thread, overlapping with the tree re-build on this one. Default: when more
   * than 100,000 records are to be re-hashed.
   */
  hashThread?: boolean;
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
    // The failure named is the one at the lowest index: a checkpoint that does not verify is found before
    // any record is read, and kept first it hid records changed below it (it named its size instead).
    const first = report.failure;
    if (!first || (index !== null && first.index !== null && index < first.index))
      report.failure = { code, index, message };
    return report;
  };
  // The source's word, checked before any loop runs on it: a size that is no count (absent, text, NaN)
  // skipped every loop and every final check, and a log of nothing checked passed as verified.
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(min) || min < 0 || min > size)
    return fail('missing_record', 0, `the log claims ${String(size)} records from index ${String(min)}`);

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
  const hasher = (o.hashThread ?? size - next > 100_000) ? workerLeafHasher() : inlineLeafHasher;
  try {
    return await checkRecords(source, o, {
      size,
      next,
      batch,
      hasher,
      checkRoots,
      fail,
      range,
      trusted,
      report,
    });
  } finally {
    await hasher.close();
  }
}

interface RecordCheck {
  size: number;
  next: number;
  batch: number;
  hasher: LeafHasher;
  checkRoots: () => boolean;
  fail: (code: VerificationCode, index: number | null, message: string) => LogReport;
  range: CompactRange;
  trusted: number;
  report: LogReport;
}

async function checkRecords(source: LogSource, o: VerifyLogOptions, c: RecordCheck): Promise<LogReport> {
  const { size, batch, hasher, checkRoots, fail, range, trusted, report } = c;
  let next = c.next;
  // Fetch and leaf-hash the next batch while this one is checked (network, leaf hashing and the tree
  // re-build overlap).
  const fetchBatch = async (start: number) => {
    const end = Math.min(size, start + batch);
    const text = source.entryBytes
      ? source.entryBytes(start, end)
      : source
          .entries(start, end)
          .then((rows) => Buffer.from(rows.map((r) => `${r.index} ${r.body}\n`).join(''), 'utf8'));
    const [bytes, stored] = await Promise.all([text, source.leafHashes(start, end)]);
    return [await hasher.scan(bytes), stored] as const;
  };
  let pending = next < size ? fetchBatch(next) : undefined;
  for (let start = next; start < size; start += batch) {
    const end = Math.min(size, start + batch);
    const [{ positions, declared: claims, leaves }, stored] = await pending!;
    pending = end < size ? fetchBatch(end) : undefined;
    // A failure below returns early; the prefetch must not surface as an unhandled rejection.
    pending?.catch(() => undefined);
    for (let k = 0; k < positions.length; k++) {
      const position = positions[k]!;
      if (position !== next)
        return fail('missing_record', next, `record ${next} is missing (next stored record is ${position})`);
      const declared = claims[k]!;
      if (declared !== next)
        return fail(
          'record_mismatch',
          next,
          `record stored at ${next} says it belongs at ${declared < 0 ? 'no index' : String(declared)}`,
        );
      const leaf = Buffer.from(leaves.buffer, leaves.byteOffset + k * 32, 32);
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
  // Every record re-hashed fine, but against nothing: a log whose checkpoints were all removed (and that
  // has no anchors) would otherwise pass as a log whose records are merely waiting for a signature.
  // Records pruned count too: their leaf hashes are only the server's word unless a checkpoint covers
  // them, and an honest log never prunes past its last checkpoint.
  if (trusted === 0 && size > 0)
    return fail(
      'unsigned',
      report.minIndex,
      `no signed checkpoint covers any of the ${size} records, so none can be trusted (a new log signs its first within checkpointIntervalMs)`,
    );
  return report;
}

export { VerificationError };
