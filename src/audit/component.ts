/**
 * The `audit` component: a tamper-evident, append-only Merkle log (RFC 9162 hashing, C2SP checkpoints
 * and proofs) on core storage, with ingest, proofs, search, export and retention over HTTPS.
 */
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import {
  type ComponentContext,
  type ComponentDefinition,
  type ComponentInstance,
  callerOf,
} from '../core/index.ts';
import { listedCaller } from '../core/mtls/index.ts';
import type { AuditContext } from './api/audit-context.ts';
import { IngestPool } from './api/ingest-pool.ts';
import { ingestRoutes } from './api/ingest-routes.ts';
import { proofRoutes } from './api/proof-routes.ts';
import { queryRoutes } from './api/query-routes.ts';
import { retentionRoutes } from './api/retention-routes.ts';
import { AUDIT_CONFIG_PROPERTIES, type AuditSettings, auditSettings } from './config.ts';
import { auditError } from './errors.ts';
import { AuditLog } from './log/audit-log.ts';
import { Checkpointer } from './log/checkpointer.ts';
import { auditDirectory, loadLogKey, loadPepper } from './log/log-key.ts';
import { AUDIT_MIGRATIONS } from './log/migrations.ts';
import { bodiesByIds } from './log/record-store.ts';
import { sensitivePolicy } from './record/sensitive-fields.ts';
import { Retention } from './retention/retention.ts';
import type { SubjectKeysApi } from './shred/keys-calls.ts';
import { PiiShredder } from './shred/pii-shredder.ts';

export interface AuditOptions {
  /** The keys API audit seals personal data with (crypto-shredding); undefined: hash and mask only. */
  keys?: (ctx: ComponentContext) => SubjectKeysApi | undefined;
}

async function create(context: ComponentContext, options: AuditOptions): Promise<ComponentInstance> {
  const settings = auditSettings(context.section);
  const home = context.config.home;
  const signer = loadLogKey(home, settings.origin);
  const pepper = loadPepper(home);
  const policy = sensitivePolicy(settings, pepper);
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
    const keys = options.keys?.(context);
    if (keys) {
      ctx.shredder = new PiiShredder({
        keys,
        encryptKeys: settings.shredKeys,
        subjectTargetTypes: settings.shredSubjectTypes,
        ttlMs: settings.shredDataKeyTtlMs,
        // A retried batch keeps the ciphertexts it was first stored with, so it reads as a duplicate.
        storedBodies: (ids) => bodiesByIds(store, ids),
      });
    }
    // Sealed batches need keys calls on the way in, so with a shredder every batch stays on the event loop.
    if (!ctx.shredder) {
      const ingest = IngestPool.start(
        settings.ingestWorkers,
        {
          maxBatch: settings.maxBatch,
          maxClockSkewMs: settings.maxClockSkewMs,
          lists: {
            secretKeys: settings.secretKeys,
            hashKeys: settings.hashKeys,
            maskKeys: settings.maskKeys,
          },
          pepper,
        },
        context.logger,
      );
      if (ingest) ctx.ingest = ingest;
    }
    const retention = new Retention(ctx);
    ctx.log.useRetention(retention);
    retention.start();
    return {
      routes: async (app) => {
        // On the mesh every workload may append; reading the log and managing retention are narrower.
        app.addHook('onRequest', async (req) => authorizeCaller(req, settings));
        // Records carry who did what: no cache (a proxy, a browser) may keep a copy, unless a route says
        // otherwise (tiles are immutable and public, the checkpoint is revalidated).
        app.addHook('onSend', async (_req, reply) => {
          if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
        });
        await app.register(ingestRoutes(ctx));
        await app.register(proofRoutes(ctx));
        await app.register(queryRoutes(ctx));
        await app.register(retentionRoutes(ctx, retention));
      },
      readiness: { 'log-integrity': () => checkpointer.integrity },
      close: async () => {
        ctx.shredder?.clear();
        await ctx.ingest?.close();
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

/** The audit component, with what the runtime injects. */
export function createAuditComponent(options: AuditOptions = {}): ComponentDefinition {
  return {
    name: 'audit',
    description: 'Tamper-evident audit log: Merkle tree, signed checkpoints, proofs, retention and export',
    defaultPort: 7301,
    // Readers, ACLs and admins are SPIFFE IDs: without the mesh there is no caller to check.
    callersFromMesh: true,
    configProperties: AUDIT_CONFIG_PROPERTIES,
    create: (context) => create(context, options),
  };
}

export const auditComponent: ComponentDefinition = createAuditComponent();

/** Routes every SVID of the trust domain may call: append, and what a verifier needs to start from. */
const OPEN_TO_WORKLOADS = new Set([
  'POST /audit/v1/records',
  'GET /audit/v1/checkpoint',
  'GET /audit/v1/log-key',
]);

function authorizeCaller(req: FastifyRequest, settings: AuditSettings): void {
  const caller = callerOf(req)?.spiffeId.uri;
  // Without mTLS (audit run alone on the local CA) there is no caller identity to decide on.
  if (!caller) return;
  // HEAD runs the GET handler and answers its status and headers (content length, `x-next-after`,
  // `x-log-size`): it is a read. Decided as a write, it let an admin who is no reader probe searches.
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const route = `${method} ${req.routeOptions.url ?? ''}`;
  if (OPEN_TO_WORKLOADS.has(route) || route.startsWith('GET /healthz') || route.startsWith('GET /readyz'))
    return;
  const list = method === 'GET' ? settings.readers : settings.admins;
  if (!listedCaller(list, caller)) {
    throw auditError(
      'audit_forbidden',
      `${caller} may not ${method === 'GET' ? 'read' : 'manage'} the audit log`,
    );
  }
}
