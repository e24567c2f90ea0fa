/** Search and export: by time range, actor, action, outcome, component and category, in index order. */
import { hostname } from 'node:os';
import type { FastifyPluginAsync } from 'fastify';
import type { SqlValue } from '../../core/index.ts';
import { auditError } from '../errors.ts';
import { type LoggedRecord, toCef, toEcs, toSyslog } from '../export/event-formats.ts';
import { recordById } from '../log/record-store.ts';
import type { AuditContext } from './audit-context.ts';

const filterProperties = {
  from: { type: 'string', format: 'date-time' },
  to: { type: 'string', format: 'date-time' },
  actor: { type: 'string', maxLength: 256 },
  action: { type: 'string', maxLength: 128 },
  outcome: { type: 'string', enum: ['success', 'failure', 'unknown'] },
  component: { type: 'string', maxLength: 64 },
  category: { type: 'string', maxLength: 64 },
  after: { type: 'integer', minimum: -1, default: -1 },
  limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
} as const;

export interface SearchFilter {
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
  outcome?: string;
  component?: string;
  category?: string;
  after: number;
  limit: number;
}

export async function searchRecords(ctx: AuditContext, f: SearchFilter): Promise<LoggedRecord[]> {
  const where: string[] = ['idx > ?'];
  const params: SqlValue[] = [f.after];
  // Times are stored as normalised ISO 8601 UTC strings, which sort in time order.
  const add = (clause: string, value: SqlValue) => {
    where.push(clause);
    params.push(value);
  };
  if (f.from) add('time >= ?', new Date(f.from).toISOString());
  if (f.to) add('time < ?', new Date(f.to).toISOString());
  for (const key of ['actor', 'action', 'outcome', 'component', 'category'] as const) {
    const v = f[key];
    if (v !== undefined) add(`${key} = ?`, v);
  }
  params.push(f.limit);
  const rows = await ctx.store.query<{ body: string }>(
    `SELECT body FROM audit_record WHERE ${where.join(' AND ')} ORDER BY idx LIMIT ?`,
    params,
  );
  return rows.map((r) => JSON.parse(r.body) as LoggedRecord);
}

export function queryRoutes(ctx: AuditContext): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/audit/v1/records',
      {
        schema: {
          querystring: { type: 'object', additionalProperties: false, properties: filterProperties },
        },
      },
      async (req) => {
        const records = await searchRecords(ctx, req.query as SearchFilter);
        const last = records[records.length - 1];
        return {
          records,
          next: records.length === (req.query as SearchFilter).limit && last ? last.index : null,
        };
      },
    );

    app.get<{ Params: { id: string } }>('/audit/v1/records/:id', async (req) => {
      const row = await recordById(ctx.store, req.params.id);
      if (!row) throw auditError('audit_not_found', 'no record with that id');
      return JSON.parse(row.body) as LoggedRecord;
    });

    app.get(
      '/audit/v1/export',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['format'],
            additionalProperties: false,
            properties: {
              ...filterProperties,
              format: { type: 'string', enum: ['ecs', 'cef', 'syslog'] },
              limit: { ...filterProperties.limit, default: 1000 },
            },
          },
        },
      },
      async (req, reply) => {
        const q = req.query as SearchFilter & { format: 'ecs' | 'cef' | 'syslog' };
        const records = await searchRecords(ctx, q);
        const host = hostname();
        const line = (r: LoggedRecord) =>
          q.format === 'ecs'
            ? JSON.stringify(toEcs(r, ctx.settings.origin))
            : q.format === 'cef'
              ? toCef(r)
              : toSyslog(r, host);
        const last = records[records.length - 1];
        if (last && records.length === q.limit) reply.header('x-next-after', String(last.index));
        return reply
          .type(q.format === 'ecs' ? 'application/x-ndjson' : 'text/plain; charset=utf-8')
          .send(records.map((r) => `${line(r)}\n`).join(''));
      },
    );
  };
}
