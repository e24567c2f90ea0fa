/** What the audit routes share: the log, its key and settings. Built once in `create()`. */
import type { Clock, Logger, Store } from '../../core/index.ts';
import type { AuditSettings } from '../config.ts';
import type { AuditLog } from '../log/audit-log.ts';
import type { Checkpointer } from '../log/checkpointer.ts';
import type { SensitivePolicy } from '../record/sensitive-fields.ts';
import type { PiiShredder } from '../shred/pii-shredder.ts';
import type { NoteSigner } from '../verifier/signed-note.ts';
import type { IngestPool } from './ingest-pool.ts';

export interface AuditContext {
  settings: AuditSettings;
  store: Store;
  log: AuditLog;
  checkpointer: Checkpointer;
  signer: NoteSigner;
  policy: SensitivePolicy;
  clock: Clock;
  logger: Logger;
  /** Seals personal data under subject keys (crypto-shredding), when audit has `keys`. */
  shredder?: PiiShredder;
  /** Threads that prepare ingest batches off the event loop (none with a shredder, or `ingestWorkers: 0`). */
  ingest?: IngestPool;
}
