/**
 * Leaf hashing for `verifyLog`, straight from the bytes of the `/entries` text (one `<index> <body>\n` line
 * per record): no string per record, no UTF-8 re-encoding. The space before each body is overwritten with
 * the RFC 9162 leaf prefix 0x00, so `SHA-256(0x00 || body)` is one hash of a sub-range of the buffer.
 * Above a size, a worker thread does it for the next batch while the main thread re-builds the tree from
 * the current one. Only node:worker_threads and node:crypto: part of the stand-alone verifier.
 */
import { hash } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { WorkerCalls } from './worker-calls.ts';

const WORKER_ROLE = 'bulwark-audit-leaf-hasher';
const INDEX_KEY = Buffer.from(',"index":');

/** One scanned batch: per line, its position, the `index` its body declares (-1: none) and its leaf hash. */
export interface ScannedEntries {
  positions: Float64Array;
  declared: Float64Array;
  /** 32 bytes per line. */
  leaves: Uint8Array;
}

function digits(buf: Uint8Array, from: number, to: number): number {
  let n = 0;
  let i = from;
  for (; i < to; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return i === from ? -1 : n;
}

/**
 * Scans and hashes the lines of `text` (modified in place). The declared index is read without parsing the
 * JSON: in RFC 8785 key order `index` follows `id`, and nothing after it can hold a raw `,"index":` (later
 * members are strings, whose quotes are escaped, or objects with fixed keys), so the last occurrence is the
 * top-level member. Whatever a forger writes there, the leaf hash is still checked against the tiles and
 * the signed roots.
 */
export function scanEntries(text: Uint8Array): ScannedEntries {
  const buf = Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  let lines = 0;
  for (let at = buf.indexOf(10); at >= 0; at = buf.indexOf(10, at + 1)) lines++;
  const out: ScannedEntries = {
    positions: new Float64Array(lines),
    declared: new Float64Array(lines),
    leaves: new Uint8Array(lines * 32),
  };
  let start = 0;
  for (let k = 0; k < lines; k++) {
    const nl = buf.indexOf(10, start);
    let space = buf.indexOf(32, start);
    if (space < 0 || space > nl) space = nl; // no body: hashed as empty, and its index cannot match
    out.positions[k] = space === start ? -1 : digits(buf, start, space);
    const key = buf.lastIndexOf(INDEX_KEY, nl - INDEX_KEY.length);
    out.declared[k] = key > space ? digits(buf, key + INDEX_KEY.length, nl) : -1;
    if (space < nl) {
      buf[space] = 0;
      out.leaves.set(hash('sha256', buf.subarray(space, nl), 'buffer'), k * 32);
    }
    start = nl + 1;
  }
  return out;
}

export interface LeafHasher {
  /** Scans `text` (handed over: the caller must not use it afterwards). */
  scan(text: Uint8Array): Promise<ScannedEntries>;
  close(): Promise<void>;
}

/** Scans on the calling thread (small logs: starting a thread would cost more than it saves). */
export const inlineLeafHasher: LeafHasher = {
  scan: async (text) => scanEntries(text),
  close: async () => undefined,
};

export function workerLeafHasher(): LeafHasher {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE } });
  const calls = new WorkerCalls<{ id: number; scanned: ScannedEntries }>(worker, 'the leaf hashing thread');
  return {
    scan: async (text) => {
      // A private copy when the bytes share a pool or a larger buffer; otherwise moved, not copied.
      const own =
        text.byteOffset === 0 && text.byteLength === text.buffer.byteLength ? text : new Uint8Array(text);
      return (await calls.call({ text: own }, [own.buffer as ArrayBuffer])).scanned;
    },
    close: () => calls.close(),
  };
}

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === WORKER_ROLE) {
  const port = parentPort;
  port.on('message', (m: { id: number; text: Uint8Array }) => {
    const scanned = scanEntries(m.text);
    port.postMessage({ id: m.id, scanned }, [
      scanned.positions.buffer as ArrayBuffer,
      scanned.declared.buffer as ArrayBuffer,
      scanned.leaves.buffer as ArrayBuffer,
    ]);
  });
}
