/**
 * The HTTP API of `policy` (docs/openapi/policy.yaml): the bundle for gateways and sidecars (with ETag),
 * policy documents (CRUD, compiled on write), bundle versions, decisions and analysis for the console.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { type AuditActor, callerOf } from '../core/index.ts';
import { listedCaller } from '../core/mtls/index.ts';
import {
  actionRef,
  type CompiledBundle,
  compileBundle,
  fromBundleDocument,
  type PolicyEngine,
  parseEntityRef,
} from '../core/policy-engine/index.ts';
import { DEFAULT_ANALYSIS_CONTEXT, diffBundles, whatCan, whoCan } from './analysis.ts';
import { policyError } from './errors.ts';
import type { PolicyService } from './policy-service.ts';

const ENTITY_REF = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id'],
  properties: {
    type: { type: 'string', minLength: 1, maxLength: 200 },
    id: { type: 'string', maxLength: 2000 },
  },
} as const;

const DECISION_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['principal', 'action', 'resource'],
  properties: {
    principal: ENTITY_REF,
    action: { anyOf: [{ type: 'string', minLength: 1, maxLength: 200 }, ENTITY_REF] },
    resource: ENTITY_REF,
    context: { type: 'object' },
    entities: { type: 'array', maxItems: 1000, items: { type: 'object' } },
  },
} as const;

const NAME_PARAMS = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/** RFC 9110 §13.1.2: If-None-Match uses weak comparison; `*` matches any current representation. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** Routes that change the policy set: on the mesh, only its admins may call them. */
const CHANGES = new Set(['PUT /v1/policies/:name', 'DELETE /v1/policies/:name', 'POST /v1/reload']);

export interface PolicyRouteOptions {
  /** SPIFFE IDs (or prefixes ending in `*`) allowed to change the policy set when callers present SVIDs. */
  admins: readonly string[];
}

export function policyRoutes(
  service: PolicyService,
  engine: PolicyEngine,
  options: PolicyRouteOptions = { admins: [] },
): FastifyPluginAsync {
  /** The caller as the audit actor of a change; off the mesh undefined (the component itself is recorded). */
  const changer = (req: FastifyRequest): AuditActor | undefined => {
    const caller = callerOf(req)?.spiffeId.uri;
    return caller ? { type: 'service', id: caller } : undefined;
  };
  const current = (): CompiledBundle => {
    const bundle = service.current?.compiled;
    if (!bundle)
      throw policyError('policy_version_not_found', 'no valid policy bundle has been loaded yet', {
        status: 503,
      });
    return bundle;
  };
  const atVersion = async (version: number): Promise<CompiledBundle> => {
    const document = await service.store.bundle(version);
    if (!document) throw policyError('policy_version_not_found', `no bundle version ${version}`);
    return compileBundle(fromBundleDocument(document).source);
  };

  return async (app) => {
    // Long polls end at shutdown instead of holding the drain for their whole wait.
    app.addHook('preClose', async () => service.wakeWaiters());
    // A workload that could rewrite the policy could allow itself anything at every gateway and sidecar
    // following the bundle: changes take a listed SPIFFE ID. Off the mesh there is no caller to decide on.
    app.addHook('onRequest', async (req) => {
      const caller = callerOf(req)?.spiffeId.uri;
      if (!caller || !CHANGES.has(`${req.method} ${req.routeOptions.url ?? ''}`)) return;
      if (!listedCaller(options.admins, caller))
        throw policyError('policy_forbidden', `${caller} may not change the policy set`);
    });

    app.get<{ Querystring: { wait?: number } }>(
      '/v1/bundle',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { wait: { type: 'integer', minimum: 0, maximum: 60 } },
          },
        },
      },
      async (req: FastifyRequest<{ Querystring: { wait?: number } }>, reply: FastifyReply) => {
        await service.sync();
        let now = service.current;
        if (!now)
          throw policyError('policy_version_not_found', 'no valid policy bundle has been loaded yet', {
            status: 503,
          });
        const wait = req.query.wait ?? 0;
        if (wait > 0 && etagMatches(req.headers['if-none-match'], `"${now.document.hash}"`)) {
          await service.waitForChange(now.document.hash, wait * 1000);
          now = service.current ?? now;
        }
        const etag = `"${now.document.hash}"`;
        reply
          .header('etag', etag)
          .header('cache-control', 'no-cache')
          .header('x-bulwark-bundle-version', String(now.document.version));
        if (etagMatches(req.headers['if-none-match'], etag)) return reply.code(304).send();
        return now.document;
      },
    );

    app.get('/v1/bundles', async () => ({ versions: await service.store.versions(100) }));

    app.get<{ Params: { version: number } }>(
      '/v1/bundles/:version',
      { schema: { params: { type: 'object', properties: { version: { type: 'integer', minimum: 1 } } } } },
      async (req) => {
        const document = await service.store.bundle(req.params.version);
        if (!document)
          throw policyError('policy_version_not_found', `no bundle version ${req.params.version}`);
        return document;
      },
    );

    app.get('/v1/policies', async () => ({
      policies: (await service.documents()).map(({ name, source, updatedAt }) => ({
        name,
        source,
        ...(updatedAt ? { updatedAt } : {}),
      })),
    }));

    app.get<{ Params: { name: string } }>(
      '/v1/policies/:name',
      { schema: { params: NAME_PARAMS } },
      async (req) => service.document(req.params.name),
    );

    app.put<{ Params: { name: string }; Body: { text: string } }>(
      '/v1/policies/:name',
      {
        schema: {
          params: NAME_PARAMS,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['text'],
            properties: { text: { type: 'string', maxLength: 1_000_000 } },
          },
        },
      },
      async (req, reply) => {
        const fromDirectory = (await service.documents()).some(
          (d) => d.source === 'directory' && d.name === req.params.name,
        );
        if (fromDirectory)
          throw policyError(
            'policy_read_only',
            `${req.params.name} comes from the policy directory; edit the file`,
          );
        const { document, created, compiled } = await service.put(
          req.params.name,
          req.body.text,
          changer(req),
        );
        reply.code(created ? 201 : 200);
        return {
          name: req.params.name,
          version: document.version,
          hash: document.hash,
          warnings: compiled.warnings,
        };
      },
    );

    app.delete<{ Params: { name: string } }>(
      '/v1/policies/:name',
      { schema: { params: NAME_PARAMS } },
      async (req) => {
        const document = await service.remove(req.params.name, changer(req));
        return { name: req.params.name, version: document.version, hash: document.hash };
      },
    );

    app.post<{ Body: { name: string; text: string } }>(
      '/v1/validate',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'text'],
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 100 },
              text: { type: 'string', maxLength: 1_000_000 },
            },
          },
        },
      },
      async (req) => {
        try {
          const compiled = await service.check(req.body.name, req.body.text);
          return { valid: true, issues: [], warnings: compiled.warnings };
        } catch (err) {
          const e = err as { code?: string; details?: { issues?: unknown[] } };
          if (e.code !== 'policy_bundle_invalid') throw err;
          return { valid: false, issues: e.details?.issues ?? [], warnings: [] };
        }
      },
    );

    app.post('/v1/reload', async () => {
      const result = await service.reload();
      return { changed: result.changed, version: result.version };
    });

    app.post<{
      Body: {
        principal: { type: string; id: string };
        action: string | { type: string; id: string };
        resource: { type: string; id: string };
        context?: Record<string, never>;
        entities?: never[];
      };
    }>('/v1/decisions', { schema: { body: DECISION_BODY } }, async (req) => {
      const { principal, action, resource, context, entities } = req.body;
      const decision = engine.decide(
        { principal, action, resource, context: context ?? {}, ...(entities ? { entities } : {}) },
        req.id,
      );
      return decision;
    });

    app.post<{ Body: { action: string; resource: string; context?: Record<string, never> } }>(
      '/v1/analysis/who-can',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['action', 'resource'],
            properties: {
              action: { type: 'string', minLength: 1 },
              resource: { type: 'string', minLength: 1 },
              context: { type: 'object' },
            },
          },
        },
      },
      async (req) => ({
        rows: whoCan(
          current(),
          actionRef(req.body.action),
          refOrBadRequest(req.body.resource),
          req.body.context ?? DEFAULT_ANALYSIS_CONTEXT,
        ),
      }),
    );

    app.post<{ Body: { principal: string; context?: Record<string, never> } }>(
      '/v1/analysis/what-can',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['principal'],
            properties: { principal: { type: 'string', minLength: 1 }, context: { type: 'object' } },
          },
        },
      },
      async (req) => ({
        rows: whatCan(
          current(),
          refOrBadRequest(req.body.principal),
          req.body.context ?? DEFAULT_ANALYSIS_CONTEXT,
        ),
      }),
    );

    app.get<{ Querystring: { from: number; to: number } }>(
      '/v1/analysis/diff',
      {
        schema: {
          querystring: {
            type: 'object',
            required: ['from', 'to'],
            properties: { from: { type: 'integer', minimum: 1 }, to: { type: 'integer', minimum: 1 } },
          },
        },
      },
      async (req) => ({
        from: req.query.from,
        to: req.query.to,
        rows: diffBundles(await atVersion(req.query.from), await atVersion(req.query.to)),
      }),
    );
  };
}

function refOrBadRequest(text: string) {
  try {
    return parseEntityRef(text);
  } catch (err) {
    throw policyError('policy_request_invalid', (err as Error).message);
  }
}
