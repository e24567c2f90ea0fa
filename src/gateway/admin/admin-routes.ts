/**
 * The admin API (fastify, on the component's own listener): the route file's validate / diff / sync /
 * export (decK-like), pushed token revocations, the identity-assertion JWKS for upstreams, metrics and the
 * stage table. Every call but `jwks.json` needs a role: `viewer` reads, `operator` also changes. On the
 * mesh the caller's verified SPIFFE ID carries it (`adminOperators`, `adminViewers`: the operator's SVID by
 * default, so the CLI needs no secret); an admin bearer token whose SHA-256 is configured with a role gives
 * it too (a gateway run alone, without mTLS, has only tokens). The higher of the two counts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { type AuditActor, callerOf } from '../../core/index.ts';
import { listedCaller } from '../../core/mtls/index.ts';
import { gatewayError } from '../errors.ts';
import type { Gateway } from '../gateway.ts';
import { PIPELINE } from '../pipeline.ts';
import { diffRouteDocuments } from '../routes/route-diff.ts';
import { formatRouteFile, parseRouteFile } from '../routes/route-file.ts';

export interface AdminOptions {
  gateway: Gateway;
  routesFile: string;
  tokens: readonly { sha256: string; role: 'viewer' | 'operator' }[];
  /** SPIFFE IDs (or prefixes ending in `*`) with each role, checked against a verified client certificate. */
  operators: readonly string[];
  viewers: readonly string[];
  /** The metrics to serve (with workers: every process's merged); default the gateway's own registry. */
  metrics?: () => Promise<Pick<Registry, 'metrics' | 'contentType'>>;
}

type Role = 'viewer' | 'operator';
const yamlBody = {
  type: 'object',
  additionalProperties: false,
  required: ['yaml'],
  properties: { yaml: { type: 'string', maxLength: 4_000_000 } },
} as const;

export function adminRoutes(options: AdminOptions): FastifyPluginAsync {
  const { gateway } = options;
  const tokens = options.tokens.map((t) => ({ digest: Buffer.from(t.sha256, 'hex'), role: t.role }));
  const tokenOf = (req: FastifyRequest) => {
    const m = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const digest = createHash('sha256')
      .update(m[1] as string)
      .digest();
    return tokens.find((t) => timingSafeEqual(t.digest, digest));
  };
  const svidRoleOf = (spiffeId: string | undefined): Role | undefined =>
    spiffeId === undefined
      ? undefined
      : listedCaller(options.operators, spiffeId)
        ? 'operator'
        : listedCaller(options.viewers, spiffeId)
          ? 'viewer'
          : undefined;
  const roleOf = (req: FastifyRequest): Role | undefined => {
    const bySvid = svidRoleOf(callerOf(req)?.spiffeId.uri);
    return bySvid === 'operator' ? bySvid : (tokenOf(req)?.role ?? bySvid);
  };
  const need = (role: Role) => async (req: FastifyRequest) => {
    const has = roleOf(req);
    if (!has || (role === 'operator' && has !== 'operator')) {
      const who = callerOf(req)?.spiffeId.uri;
      // A refusal is audited (token guessing, a viewer trying a change): who by SPIFFE ID or by the
      // hash prefix of a configured token, never the token presented.
      const token = tokenOf(req);
      gateway.runtime.audit.record({
        actor: who
          ? { type: 'service', id: who }
          : token
            ? { type: 'client', id: `admin-token:${token.digest.subarray(0, 6).toString('hex')}` }
            : { type: 'system', id: 'anonymous' },
        action: 'gateway.admin.denied',
        target: { type: 'route', id: `${req.method} ${req.routeOptions.url ?? 'unmatched'}` },
        outcome: 'failure',
        reason: has ? 'operator_required' : 'no_role',
        source: { component: 'gateway', ip: req.ip },
        requestId: req.id,
      });
      throw gatewayError(
        'gateway_admin_forbidden',
        who
          ? `${who} does not have the ${role} role here, and no admin token with it was presented`
          : `this call needs an admin token with the ${role} role`,
      );
    }
  };
  /** Who made a change, for the audit record: the SPIFFE ID, else which token (by its hash prefix). */
  const actorOf = (req: FastifyRequest): AuditActor => {
    const spiffeId = callerOf(req)?.spiffeId.uri;
    if (spiffeId && svidRoleOf(spiffeId) === 'operator') return { type: 'service', id: spiffeId };
    const token = tokenOf(req);
    return { type: 'client', id: `admin-token:${token?.digest.subarray(0, 6).toString('hex') ?? 'unknown'}` };
  };
  return async (app) => {
    app.get('/v1/gateway/jwks.json', async () => gateway.runtime.signer.jwks());

    app.get('/v1/gateway/routes', { onRequest: need('viewer') }, async (_req, reply) => {
      reply.type('application/yaml');
      return formatRouteFile(gateway.runtime.table.document);
    });

    app.post(
      '/v1/gateway/routes/validate',
      { onRequest: need('viewer'), schema: { body: yamlBody } },
      async (req) => {
        const parsed = parseRouteFile((req.body as { yaml: string }).yaml);
        return parsed.ok ? { valid: true, issues: [] } : { valid: false, issues: parsed.issues };
      },
    );

    app.post(
      '/v1/gateway/routes/diff',
      { onRequest: need('viewer'), schema: { body: yamlBody } },
      async (req) => {
        const parsed = parseRouteFile((req.body as { yaml: string }).yaml);
        if (!parsed.ok) {
          throw gatewayError('gateway_route_file_invalid', 'the route file is invalid', {
            details: { issues: parsed.issues },
          });
        }
        return { changes: diffRouteDocuments(gateway.runtime.table.document, parsed.document) };
      },
    );

    app.put(
      '/v1/gateway/routes',
      { onRequest: need('operator'), schema: { body: yamlBody } },
      async (req) => {
        const text = (req.body as { yaml: string }).yaml;
        const before = gateway.runtime.table.document;
        // Applied first (it compiles everything), written second: a file on disk is always a good one.
        const table = gateway.applyText(text);
        // The table is in force from here on: audited even when the file cannot be written (the caller
        // gets the error, the record says the change was not persisted).
        let persisted = false;
        try {
          mkdirSync(dirname(options.routesFile), { recursive: true, mode: 0o700 });
          const temp = `${options.routesFile}.${process.pid}.tmp`;
          writeFileSync(temp, text, { mode: 0o600 });
          renameSync(temp, options.routesFile);
          persisted = true;
        } finally {
          gateway.runtime.audit.record({
            actor: actorOf(req),
            action: 'gateway.routes.sync',
            outcome: 'success',
            source: { component: 'gateway', ip: req.ip },
            requestId: req.id,
            ...(persisted ? {} : { details: { persisted: false } }),
          });
        }
        return { applied: true, changes: diffRouteDocuments(before, table.document) };
      },
    );

    app.post(
      '/v1/gateway/revocations',
      {
        onRequest: need('operator'),
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['exp'],
            anyOf: [{ required: ['jti'] }, { required: ['gid'] }],
            properties: {
              jti: { type: 'string', minLength: 1, maxLength: 256 },
              gid: {
                type: 'string',
                minLength: 1,
                maxLength: 256,
                description: 'Grant digest: revokes every token of the grant.',
              },
              exp: { type: 'integer', minimum: 0, description: 'Token expiry (seconds since the epoch).' },
            },
          },
        },
      },
      async (req, reply) => {
        const { jti, gid, exp } = req.body as { jti?: string; gid?: string; exp: number };
        if (jti) gateway.runtime.revocations.revoke(jti, exp * 1000, 'jti');
        if (gid) gateway.runtime.revocations.revoke(gid, exp * 1000, 'grant');
        const targets = [
          ...(jti ? [{ type: 'token', id: jti }] : []),
          ...(gid ? [{ type: 'grant', id: gid }] : []),
        ];
        for (const target of targets) {
          gateway.runtime.audit.record({
            actor: actorOf(req),
            action: 'gateway.token.revoke',
            outcome: 'success',
            target,
            source: { component: 'gateway', ip: req.ip },
            requestId: req.id,
          });
        }
        return reply.code(204).send();
      },
    );

    app.get('/v1/gateway/metrics', { onRequest: need('viewer') }, async (_req, reply) => {
      const registry = options.metrics ? await options.metrics() : gateway.runtime.metrics.registry;
      reply.type(registry.contentType);
      return registry.metrics();
    });

    app.get('/v1/gateway/stages', { onRequest: need('viewer') }, async () => ({
      stages: PIPELINE.map((s) => {
        const total = gateway.runtime.stageTotals.get(s.name);
        return {
          name: s.name,
          trusts: s.trusts,
          terminal: s.terminal ?? false,
          ...(total ? { meanMicros: total.ns / total.count / 1000, count: total.count } : {}),
        };
      }),
    }));
  };
}
