/**
 * POST /audit/v1/records: batched ingest. The whole batch is validated before anything is written (a
 * violation is a 400 naming the field, and nothing of the batch is stored), then appended in one
 * transaction; the response comes only after COMMIT. Retrying a batch is safe: records are idempotent by id.
 *
 * The body arrives as bytes. With ingest threads, a thread parses it, validates every record and
 * serialises the leaf data (ingest-batch.ts); the event loop only orders and commits. Whatever that fast
 * path does not take as plainly valid goes through fastify's JSON parser and the body schema below, here,
 * exactly as the framework would have run them, so bad input gets the same answers either way.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { callerOf } from '../../core/index.ts';
import { type AuditErrorCode, auditError } from '../errors.ts';
import type { AppendResult } from '../log/audit-log.ts';
import { fromColumns } from '../log/log-entry.ts';
import { normaliseRecord } from '../record/record-schema.ts';
import type { AuditContext } from './audit-context.ts';

type JsonParser = (
  req: FastifyRequest,
  body: Buffer,
  done: (err: Error | null, value?: unknown) => void,
) => void;

export function ingestRoutes(ctx: AuditContext): FastifyPluginAsync {
  const bodySchema = {
    type: 'object',
    required: ['records'],
    additionalProperties: false,
    properties: { records: { type: 'array', minItems: 1, maxItems: ctx.settings.maxBatch } },
  };
  return async (app) => {
    const parseJson = app.getDefaultJsonParser('error', 'error') as unknown as JsonParser;
    // Only in this plugin: the ingest route reads the raw bytes; every other route keeps fastify's parser.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) =>
      done(null, body),
    );

    /** fastify's own parse and body validation (same errors, same ajv options: extra keys removed). */
    const parsedBody = (req: FastifyRequest, body: Buffer): Promise<{ records: unknown[] }> =>
      new Promise((resolve, reject) => {
        parseJson(req, body, (err, value) => {
          if (err) return reject(err);
          const validate = req.compileValidationSchema(bodySchema, 'body');
          if (validate(value)) return resolve(value as { records: unknown[] });
          const errors = validate.errors ?? [];
          reject(
            Object.assign(
              new Error(errors.map((e) => `body${e.instancePath || ''} ${e.message}`).join(', ')),
              { statusCode: 400, code: 'FST_ERR_VALIDATION', validation: errors, validationContext: 'body' },
            ),
          );
        });
      });

    const answer = (results: AppendResult[]) => ({
      size: ctx.log.size,
      results: results.map((r) => ({ id: r.id, index: r.index, duplicate: r.duplicate })),
    });

    app.post('/audit/v1/records', async (req) => {
      const body = req.body as Buffer;
      const now = ctx.clock.now();
      // Who appends, from the verified SVID (absent off the mesh): stamped on every record of the batch.
      const submitter = callerOf(req)?.spiffeId.uri;
      if (ctx.ingest) {
        const batch = await ctx.ingest.prepare(body, now, submitter);
        if (batch.kind === 'entries') return answer(await ctx.log.appendEntries(fromColumns(batch.columns)));
        if (batch.kind === 'refused') {
          throw auditError(batch.code as AuditErrorCode, batch.message, {
            ...(batch.details ? { details: batch.details } : {}),
          });
        }
      }
      const { records } = await parsedBody(req, body);
      const options = {
        policy: ctx.policy,
        now,
        maxClockSkewMs: ctx.settings.maxClockSkewMs,
        ...(submitter !== undefined ? { submitter } : {}),
      };
      // With keys, personal data is sealed under each subject's key before the leaf is hashed.
      const normalised = ctx.shredder
        ? await ctx.shredder.normaliseBatch(records, options)
        : records.map((r, i) => normaliseRecord(r, `records[${i}]`, options));
      return answer(await ctx.log.append(normalised));
    });
  };
}
