/** Retention status, legal holds and pruning. Every change is itself written to the log. */
import type { FastifyPluginAsync } from 'fastify';
import { minIndex } from '../log/record-store.ts';
import type { Retention } from '../retention/retention.ts';
import type { AuditContext } from './audit-context.ts';
import { textWithoutNul, uint } from './param-schemas.ts';

export function retentionRoutes(ctx: AuditContext, retention: Retention): FastifyPluginAsync {
  return async (app) => {
    app.get('/audit/v1/retention', async () => ({
      minIndex: await minIndex(ctx.store),
      size: ctx.log.size,
      retentionDays: ctx.settings.retentionDays,
      holds: await retention.holds(),
    }));

    app.post(
      '/audit/v1/holds',
      {
        schema: {
          body: {
            type: 'object',
            required: ['reason'],
            additionalProperties: false,
            properties: {
              category: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$' },
              fromIndex: uint,
              toIndex: uint,
              // PostgreSQL text cannot hold a NUL: it reached the INSERT and came back as a 500.
              reason: textWithoutNul(1024, 1),
            },
          },
        },
      },
      async (req, reply) => {
        const hold = await retention.addHold(req.body as { reason: string }, 'api');
        return reply.code(201).send(hold);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/audit/v1/holds/:id',
      // Hold ids are UUIDs; anything else (a NUL reached PostgreSQL text, a 500) names no hold.
      { schema: { params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } } } },
      async (req, reply) => {
        await retention.releaseHold(req.params.id, 'api');
        return reply.code(204).send();
      },
    );

    app.post('/audit/v1/retention/prune', async () => retention.prune('api'));
  };
}
