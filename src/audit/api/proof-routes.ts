/**
 * The read side a verifier needs: the latest signed checkpoint at a stable URL, every checkpoint, the log
 * key, inclusion and consistency proofs, per-record tlog-proof bundles, raw entries and leaf hashes, and the
 * C2SP tlog-tiles paths (`/audit/v1/tile/<L>/<N>[.p/<W>]`).
 */
import type { FastifyPluginAsync } from 'fastify';
import { auditError } from '../errors.ts';
import {
  checkpointCovering,
  entriesFrom,
  listCheckpoints,
  readTile,
  recordById,
} from '../log/record-store.ts';
import { TILE_BYTES, TILE_WIDTH } from '../log/tile-tree.ts';
import { openCheckpoint } from '../verifier/checkpoint.ts';
import { formatProofBundle } from '../verifier/proof-bundle.ts';
import type { AuditContext } from './audit-context.ts';
import { recordIdParams, uint } from './param-schemas.ts';

/**
 * tlog-tiles index encoding: groups of three digits, all but the last prefixed with `x`, no leading `x000`
 * group; a partial tile's width without leading zeroes. Only that spelling is served: any other
 * (`x000/001`, `.p/044`) named the same immutable tile under another URL.
 */
export function parseTileIndex(path: string): { index: number; width?: number } | undefined {
  const m = /^((?:x(?!000)\d{3}\/(?:x\d{3}\/)*)?)(\d{3})(?:\.p\/([1-9]\d{0,2}))?$/.exec(path);
  if (!m) return undefined;
  const digits = `${m[1]!.replace(/[x/]/g, '')}${m[2]}`;
  const index = Number(digits);
  if (index > Number.MAX_SAFE_INTEGER) return undefined;
  const width = m[3] === undefined ? undefined : Number(m[3]);
  if (width !== undefined && (width < 1 || width >= TILE_WIDTH)) return undefined;
  return { index, ...(width === undefined ? {} : { width }) };
}

export function proofRoutes(ctx: AuditContext): FastifyPluginAsync {
  const { log, store } = ctx;
  const checkSize = (size: number) => {
    if (size > log.size) throw auditError('audit_range', `tree size ${size} is beyond the log (${log.size})`);
  };
  return async (app) => {
    app.get('/audit/v1/checkpoint', async (_req, reply) => {
      const cp = ctx.checkpointer.latest ?? (await ctx.checkpointer.tick());
      if (!cp) throw auditError('audit_no_checkpoint', 'no checkpoint has been signed yet');
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(cp.note);
    });

    app.get('/audit/v1/log-key', async (_req, reply) =>
      reply.type('text/plain; charset=utf-8').send(`${ctx.signer.vkey}\n`),
    );

    app.get(
      '/audit/v1/checkpoints',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              after: { ...uint, default: 0 },
              limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
            },
          },
        },
      },
      async (req) => {
        const q = req.query as { after: number; limit: number };
        // `after` is exclusive; -1 is not expressible, so size 0 is listed when after is 0.
        const rows = await listCheckpoints(store, q.after === 0 ? -1 : q.after, q.limit);
        return { checkpoints: rows };
      },
    );

    app.get(
      '/audit/v1/proof/inclusion',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['index'],
            additionalProperties: false,
            properties: { index: uint, size: uint },
          },
        },
      },
      async (req) => {
        const q = req.query as { index: number; size?: number };
        const size = q.size ?? ctx.checkpointer.latest?.size ?? log.size;
        checkSize(size);
        if (q.index >= size)
          throw auditError('audit_range', `index ${q.index} is not in a tree of size ${size}`);
        const hashes = await log.tree.inclusion(q.index, size);
        return { index: q.index, size, hashes: hashes.map((h) => h.toString('base64')) };
      },
    );

    app.get(
      '/audit/v1/proof/consistency',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['from'],
            additionalProperties: false,
            properties: { from: uint, to: uint },
          },
        },
      },
      async (req) => {
        const q = req.query as { from: number; to?: number };
        const to = q.to ?? ctx.checkpointer.latest?.size ?? log.size;
        checkSize(to);
        if (q.from > to) throw auditError('audit_range', `cannot prove ${q.from} -> ${to}`);
        const hashes = await log.tree.consistency(q.from, to);
        return { from: q.from, to, hashes: hashes.map((h) => h.toString('base64')) };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/audit/v1/records/:id/proof',
      { schema: { params: recordIdParams } },
      async (req, reply) => {
        const record = await recordById(store, req.params.id);
        if (!record) throw auditError('audit_not_found', 'no record with that id');
        let cp = await checkpointCovering(store, record.idx);
        if (!cp) {
          await ctx.checkpointer.tick();
          cp = await checkpointCovering(store, record.idx);
        }
        if (!cp) throw auditError('audit_no_checkpoint', 'no signed checkpoint covers this record yet');
        const { size } = openCheckpoint(cp.note, ctx.signer, ctx.settings.origin);
        const proof = await log.tree.inclusion(record.idx, size);
        const text = formatProofBundle({
          extra: Buffer.from(record.body, 'utf8'),
          index: record.idx,
          proof,
          checkpoint: cp.note,
        });
        return reply.type('text/plain; charset=utf-8').send(text);
      },
    );

    app.get(
      '/audit/v1/entries',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['start'],
            additionalProperties: false,
            properties: {
              start: uint,
              limit: { type: 'integer', minimum: 1, maximum: 100000, default: 10000 },
            },
          },
        },
      },
      async (req, reply) => {
        const q = req.query as { start: number; limit: number };
        // One line per stored row: its position, a space, its canonical JSON body (which names its index too).
        // At most entriesMaxBytes: records of ~50 KB each would otherwise make 100,000 of them gigabytes.
        const { bytes, end } = await entriesFrom(
          store,
          q.start,
          q.start + q.limit,
          ctx.settings.entriesMaxBytes,
        );
        reply
          .header('x-log-size', String(log.size))
          .header('x-entries-end', String(end))
          .type('text/plain; charset=utf-8');
        return bytes;
      },
    );

    app.get(
      '/audit/v1/leaf-hashes',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['start'],
            additionalProperties: false,
            properties: {
              start: uint,
              count: { type: 'integer', minimum: 1, maximum: 262144, default: 65536 },
            },
          },
        },
      },
      async (req, reply) => {
        const q = req.query as { start: number; count: number };
        const end = Math.min(log.size, q.start + q.count);
        const parts: Buffer[] = [];
        for (let t = Math.floor(q.start / TILE_WIDTH); t * TILE_WIDTH < end; t++) {
          const full = (t + 1) * TILE_WIDTH <= log.size;
          const blob = full ? await readTile(store, 0, t) : log.tree.partialTile(0);
          if (!blob) throw auditError('audit_not_found', `tile 0/${t} is missing`);
          const from = Math.max(q.start, t * TILE_WIDTH) - t * TILE_WIDTH;
          const to = Math.min(end, (t + 1) * TILE_WIDTH) - t * TILE_WIDTH;
          parts.push(Buffer.from(blob).subarray(from * 32, to * 32));
        }
        return reply.type('application/octet-stream').send(Buffer.concat(parts));
      },
    );

    app.get<{ Params: { level: string; '*': string } }>('/audit/v1/tile/:level/*', async (req, reply) => {
      // The level in plain decimal: Number() also read `00`, `0x0`, `+0` and ` 0` as level 0.
      const level = /^[0-7]$/.test(req.params.level) ? Number(req.params.level) : -1;
      const at = parseTileIndex(req.params['*']);
      if (level < 0 || !at) throw auditError('audit_not_found', 'no such tile');
      let blob: Uint8Array | undefined;
      if (at.width === undefined) blob = (await readTile(store, level, at.index))?.subarray(0, TILE_BYTES);
      else {
        const partial = log.tree.partialTile(level);
        const current = Math.floor(log.size / TILE_WIDTH ** (level + 1));
        if (partial && at.index === current && partial.length >= at.width * 32)
          blob = partial.subarray(0, at.width * 32);
      }
      if (!blob) throw auditError('audit_not_found', 'no such tile');
      // Full tiles never change (tlog-tiles): they may be cached forever.
      if (at.width === undefined) reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.type('application/octet-stream').send(Buffer.from(blob));
    });
  };
}
