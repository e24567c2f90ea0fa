/**
 * The `audit` component: a tamper-evident, append-only Merkle log (RFC 9162 hashing, C2SP checkpoints
 * and proofs) on core storage, with ingest, proofs, search, export and retention over HTTPS.
 */
import { join } from 'node:path';
import type { ComponentContext, ComponentDefinition, ComponentInstance } from '../core/index.ts';
import type { AuditContext } from './api/audit-context.ts';
import { ingestRoutes } from './api/ingest-routes.ts';
import { proofRoutes } from './api/proof-routes.ts';
import { queryRoutes } from './api/query-routes.ts';
import { retentionRoutes } from './api/retention-routes.ts';
import { AUDIT_CONFIG_PROPERTIES, auditSettings } from './config.ts';
import { AuditLog } from './log/audit-log.ts';
import { Checkpointer } from './log/checkpointer.ts';
import { auditDirectory, loadLogKey, loadPepper } from './log/log-key.ts';
import { AUDIT_MIGRATIONS } from './log/migrations.ts';
import { sensitivePolicy } from './record/sensitive-fields.ts';
import { Retention } from './retention/retention.ts';

async function create(context: ComponentContext): Promise<ComponentInstance> {
  const settings = auditSettings(context.section);
  const home = context.config.home;
  const signer = loadLogKey(home, settings.origin);
  const policy = sensitivePolicy(settings, loadPepper(home));
  const store = context.openStore();
  let log: AuditLog | undefined;
  try {
    await store.migrate(AUDIT_MIGRATIONS);
    if (store.engine === 'sqlite') {
      // The log's indexes outgrow SQLite's 2 MiB default page cache within a few hundred thousand records;
      // a 64 MiB cache and less frequent WAL checkpoints keep appends from turning into random reads.
      await store.execute('PRAGMA cache_size = -65536');
      await store.execute('PRAGMA wal_autocheckpoint = 8192');
    }
    const opened = await AuditLog.open(store);
    log = opened;
    const checkpointer = new Checkpointer({
      log,
      store,
      signer,
      origin: settings.origin,
      clock: context.clock,
      logger: context.logger,
      intervalMs: settings.checkpointIntervalMs,
      anchorDirectory: settings.anchorDirectory ?? join(auditDirectory(home), 'anchor'),
      anchorIntervalMs: settings.anchorIntervalMs,
    });
    await checkpointer.init();
    checkpointer.start();
    const ctx: AuditContext = {
      settings,
      store,
      log,
      checkpointer,
      signer,
      policy,
      clock: context.clock,
      logger: context.logger,
    };
    const retention = new Retention(ctx);
    retention.start();
    return {
      routes: async (app) => {
        await app.register(ingestRoutes(ctx));
        await app.register(proofRoutes(ctx));
        await app.register(queryRoutes(ctx));
        await app.register(retentionRoutes(ctx, retention));
      },
      readiness: { 'log-integrity': () => checkpointer.integrity },
      close: async () => {
        retention.stop();
        await checkpointer.stop();
        await opened.close();
        await store.close();
      },
    };
  } catch (err) {
    await log?.close();
    await store.close();
    throw err;
  }
}

export const auditComponent: ComponentDefinition = {
  name: 'audit',
  description: 'Tamper-evident audit log: Merkle tree, signed checkpoints, proofs, retention and export',
  defaultPort: 7301,
  configProperties: AUDIT_CONFIG_PROPERTIES,
  create,
};
