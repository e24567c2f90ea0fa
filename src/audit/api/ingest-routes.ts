/**
 * POST /audit/v1/records: batched ingest. The whole batch is validated before anything is written (a
 * violation is a 400 naming the field, and nothing of the batch is stored), then appended in one
 * transaction; the response comes only after COMMIT. Retrying a batch is safe: records are idempotent by id.
 */
import type { FastifyPluginAsync } from 'fastify';
import { normaliseRecord } from '../record/record-schema.ts';
import type { AuditContext } from './audit-context.ts';

export function ingestRoutes(ctx: AuditContext): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/audit/v1/records',
      {
        schema: {
          body: {
            type: 'object',
            required: ['records'],
            additionalProperties: false,
            properties: { records: { type: 'array', minItems: 1, maxItems: ctx.settings.maxBatch } },
          },
        },
      },
      async (req) => {
        const { records } = req.body as { records: unknown[] };
        const now = ctx.clock.now();
        const options = { policy: ctx.policy, now, maxClockSkewMs: ctx.settings.maxClockSkewMs };
        // With keys, personal data is sealed under each subject's key before the leaf is hashed.
        const normalised = ctx.shredder
          ? await ctx.shredder.normaliseBatch(records, options)
          : records.map((r, i) => normaliseRecord(r, `records[${i}]`, options));
        const results = await ctx.log.append(normalised);
        return {
          size: ctx.log.size,
          results: results.map((r) => ({ id: r.id, index: r.index, duplicate: r.duplicate })),
        };
      },
    );
  };
}
