/** Search and export: by time range, actor, action, outcome, component and category, in index order. */
import { hostname } from 'node:os';
import type { FastifyPluginAsync } from 'fastify';
import { coreError, type SqlValue } from '../../core/index.ts';
import { auditError } from '../errors.ts';
import { type LoggedRecord, toCef, toEcs, toSyslog } from '../export/event-formats.ts';
import { minIndex, recordById, SEGMENT_MAX, searchTerm } from '../log/record-store.ts';
import type { AuditContext } from './audit-context.ts';
import { recordIdParams, textWithoutNul as term, uint } from './param-schemas.ts';

const filterProperties = {
  from: { type: 'string', format: 'date-time' },
  to: { type: 'string', format: 'date-time' },
  actor: term(256),
  action: term(128),
  outcome: { type: 'string', enum: ['success', 'failure', 'unknown'] },
  component: term(64),
  category: term(64),
  after: { ...uint, minimum: -1, default: -1 },
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

/** Segments read per query round while filling a page. */
const SEGMENTS_PER_ROUND = 16;
/** Most segments one page reads (up to ~256,000 records) before it ends, short, with a cursor. */
export const MAX_SEGMENTS_PER_PAGE = 256;

/** One page of a search: the records found, and the cursor to go on from (null once nothing is left). */
export interface SearchPage {
  records: LoggedRecord[];
  next: number | null;
}

export async function searchRecords(ctx: AuditContext, f: SearchFilter): Promise<SearchPage> {
  // Segments are narrowed in SQL (time bounds per segment, one exact-match term per filtered field); the
  // records inside are then filtered exactly, in index order.
  const from = queryTime(f.from, 'from');
  const to = queryTime(f.to, 'to');
  const where: string[] = ['first_idx > ?'];
  const params: SqlValue[] = [];
  if (from) {
    where.push('max_time >= ?');
    params.push(from);
  }
  if (to) {
    where.push('min_time < ?');
    params.push(to);
  }
  const fields = ['actor', 'action', 'outcome', 'component', 'category'] as const;
  for (const key of fields) {
    const v = f[key];
    if (v === undefined) continue;
    where.push('EXISTS (SELECT 1 FROM audit_term t WHERE t.term = ? AND t.seg = s.first_idx)');
    params.push(searchTerm(key, v));
  }
  const sql = `SELECT first_idx, n, bodies FROM audit_segment s WHERE ${where.join(' AND ')} ORDER BY first_idx LIMIT ${SEGMENTS_PER_ROUND}`;
  const floor = await minIndex(ctx.store);
  const after = Math.max(f.after, floor - 1);
  const out: LoggedRecord[] = [];
  // The segment holding `after + 1` starts at most SEGMENT_MAX - 1 records before it.
  let cursor = after - SEGMENT_MAX;
  let scanned = 0;
  let size = 0;
  const maxSize = ctx.settings.entriesMaxBytes;
  for (;;) {
    const rows = await ctx.store.query<{ first_idx: number; n: number; bodies: string }>(sql, [
      cursor,
      ...params,
    ]);
    for (const row of rows) {
      const first = Number(row.first_idx);
      cursor = first;
      // Segments wholly before the cursor (the query starts up to a segment's length early) are not read.
      if (first + Number(row.n) - 1 <= after) continue;
      const bodies = row.bodies.split('\n');
      for (let k = Math.max(0, after + 1 - first); k < bodies.length && out.length < f.limit; k++) {
        const body = bodies[k]!;
        const r = JSON.parse(body) as LoggedRecord;
        if (!matches(r, f, from, to)) continue;
        // Pages are capped in size like `/entries` (`entriesMaxBytes`): up to 10,000 records of ~50 KB
        // would make one answer hundreds of megabytes. At least one record, so a page always moves on.
        if (out.length > 0 && size + body.length > maxSize)
          return { records: out, next: out[out.length - 1]!.index };
        out.push(r);
        size += body.length;
      }
      if (out.length >= f.limit) return { records: out, next: out[out.length - 1]!.index };
      // Filters that match segments but rarely records would otherwise read the whole log in one request:
      // the page ends here, short, with a cursor past what was read.
      if (++scanned >= MAX_SEGMENTS_PER_PAGE) return { records: out, next: first + bodies.length - 1 };
    }
    if (rows.length < SEGMENTS_PER_ROUND) return { records: out, next: null };
  }
}

/** `from` / `to` in the form stored times have (UTC, `toISOString`), so that they compare as strings. */
function queryTime(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  // JSON Schema's date-time takes a leap second (23:59:60), which Date cannot represent (toISOString threw,
  // a 500); and an offset can carry a time past 9999-12-31, whose ISO form (+010000-...) sorts before
  // every stored time.
  const ms = Date.parse(value);
  const iso = Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  if (iso === undefined || !/^\d{4}-/.test(iso))
    throw coreError(
      'invalid_request',
      `${name} must be a date-time between years 0000 and 9999 in UTC, not a leap second`,
    );
  return iso;
}

function matches(
  r: LoggedRecord,
  f: SearchFilter,
  from: string | undefined,
  to: string | undefined,
): boolean {
  return (
    (from === undefined || r.time >= from) &&
    (to === undefined || r.time < to) &&
    (f.actor === undefined || r.actor.id === f.actor) &&
    (f.action === undefined || r.action === f.action) &&
    (f.outcome === undefined || r.outcome === f.outcome) &&
    (f.component === undefined || r.source?.component === f.component) &&
    (f.category === undefined || r.category === f.category)
  );
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
        const page = await searchRecords(ctx, req.query as SearchFilter);
        // Sealed personal data reads in clear while its subject's key exists, `[erased]` after. Export,
        // entries and proofs stay sealed, so copies can still be re-hashed.
        const records = ctx.shredder ? await ctx.shredder.reveal(page.records) : page.records;
        return { records, next: page.next };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/audit/v1/records/:id',
      { schema: { params: recordIdParams } },
      async (req) => {
        const row = await recordById(ctx.store, req.params.id);
        if (!row) throw auditError('audit_not_found', 'no record with that id');
        const record = JSON.parse(row.body) as LoggedRecord;
        return ctx.shredder ? ((await ctx.shredder.reveal([record]))[0] ?? record) : record;
      },
    );

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
        const { records, next } = await searchRecords(ctx, q);
        const host = hostname();
        const line = (r: LoggedRecord) =>
          q.format === 'ecs'
            ? JSON.stringify(toEcs(r, ctx.settings.origin))
            : q.format === 'cef'
              ? toCef(r)
              : toSyslog(r, host);
        if (next !== null) reply.header('x-next-after', String(next));
        return reply
          .type(q.format === 'ecs' ? 'application/x-ndjson' : 'text/plain; charset=utf-8')
          .send(records.map((r) => `${line(r)}\n`).join(''));
      },
    );
  };
}
