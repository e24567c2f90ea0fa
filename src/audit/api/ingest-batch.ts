/**
 * One ingest request body, from bytes to log entries: parse, check the envelope, validate and normalise
 * every record, serialise each leaf around its index. Runs on an ingest worker thread (ingest-worker.ts),
 * so the event loop of the audit process only orders, commits and answers.
 *
 * A body this fast path does not take as plainly valid (not JSON, a shape the route schema would reject
 * or repair, text that could carry prototype-poisoning keys) is handed back untouched, and the route runs
 * fastify's own parser and body schema on it: the answers for bad input stay exactly what they were.
 */
import { BulwarkError } from '../../core/errors.ts';
import { type LogEntryColumns, logEntry, toColumns } from '../log/log-entry.ts';
import { type NormaliseOptions, normaliseRecord } from '../record/record-schema.ts';

export type PreparedBatch =
  | { kind: 'entries'; columns: LogEntryColumns }
  /** A record failed validation: the same error the event loop would have raised. */
  | { kind: 'refused'; code: string; message: string; details: Record<string, unknown> | undefined }
  /** Not for the fast path: parse and check it the framework's way. */
  | { kind: 'fallback' };

const FALLBACK: PreparedBatch = { kind: 'fallback' };
// fastify's parser refuses `__proto__` and `constructor` keys (secure-json-parse). They, or any `\u`
// escape that could spell them, send the body to that parser instead of judging it here.
const SUSPECT = /__proto__|constructor|\\u/;

export function prepareBatch(body: Uint8Array, maxBatch: number, options: NormaliseOptions): PreparedBatch {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (SUSPECT.test(text)) return FALLBACK;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return FALLBACK;
  }
  // Exactly `{ "records": [1..maxBatch items] }`; anything else is the route schema's to answer.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return FALLBACK;
  const keys = Object.keys(parsed);
  const records = (parsed as { records?: unknown }).records;
  if (keys.length !== 1 || !Array.isArray(records) || records.length < 1 || records.length > maxBatch)
    return FALLBACK;
  try {
    return {
      kind: 'entries',
      columns: toColumns(records.map((r, i) => logEntry(normaliseRecord(r, `records[${i}]`, options)))),
    };
  } catch (err) {
    if (!(err instanceof BulwarkError)) throw err;
    return { kind: 'refused', code: err.code, message: err.message, details: err.details };
  }
}
