/**
 * An ingest worker thread: turns request bodies into log entries (ingest-batch.ts) with the audit
 * component's sensitive-field policy, so parsing and validation run beside the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sensitivePolicy } from '../record/sensitive-fields.ts';
import { type PreparedBatch, prepareBatch } from './ingest-batch.ts';

export interface IngestWorkerData {
  maxBatch: number;
  maxClockSkewMs: number;
  lists: { secretKeys: string[]; hashKeys: string[]; maskKeys: string[] };
  pepper: Uint8Array;
}

export interface IngestRequest {
  id: number;
  body: Uint8Array;
  /** The audit component's clock, read on the event loop when the request arrived. */
  now: number;
  /** The caller's verified SPIFFE ID, stamped on every record (see `AuditRecord.submitter`). */
  submitter?: string;
}

export interface IngestReply {
  id: number;
  batch: PreparedBatch;
}

const data = workerData as IngestWorkerData;
const policy = sensitivePolicy(data.lists, Buffer.from(data.pepper));

parentPort!.on('message', (req: IngestRequest) => {
  let batch: PreparedBatch;
  try {
    batch = prepareBatch(req.body, data.maxBatch, {
      policy,
      now: req.now,
      maxClockSkewMs: data.maxClockSkewMs,
      ...(req.submitter !== undefined ? { submitter: req.submitter } : {}),
    });
  } catch {
    // Not a validation answer: a bug or an exhausted thread. The event loop's path answers it instead.
    batch = { kind: 'fallback' };
  }
  parentPort!.postMessage({ id: req.id, batch } satisfies IngestReply);
});
