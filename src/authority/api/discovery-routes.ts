/**
 * Service discovery: a workload registers its own instances (the service is the one its SVID names),
 * heartbeats them, and resolves healthy instances of a service by name.
 */
import type { FastifyPluginAsync } from 'fastify';
import { serviceNameOf } from '../../core/mtls/index.ts';
import { authorityError } from '../errors.ts';
import type { AuthorityContext } from './context.ts';

export function discoveryRoutes(ctx: AuthorityContext): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: { host: string; port: number } }>(
      '/v1/instances',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'port'],
            properties: {
              host: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' },
              port: { type: 'integer', minimum: 1, maximum: 65535 },
            },
          },
        },
      },
      async (req, reply) => {
        const peer = await ctx.callers.workload(req);
        const service = serviceNameOf(peer.spiffeId);
        if (!service)
          throw authorityError('authority_svid_refused', `${peer.spiffeId.uri} is not a service identity`);
        const instance = await ctx.instances.register(
          service,
          peer.spiffeId.uri,
          req.body.host,
          req.body.port,
        );
        reply.code(201);
        return { ...instance, ttlSeconds: ctx.config.instanceTtlSeconds };
      },
    );

    app.post<{ Params: { id: string } }>('/v1/instances/:id/heartbeat', async (req, reply) => {
      const peer = await ctx.callers.workload(req);
      await ctx.instances.heartbeat(req.params.id, peer.spiffeId.uri);
      return reply.code(204).send();
    });

    app.delete<{ Params: { id: string } }>('/v1/instances/:id', async (req, reply) => {
      const peer = await ctx.callers.workload(req);
      await ctx.instances.remove(req.params.id, peer.spiffeId.uri);
      return reply.code(204).send();
    });

    app.get<{ Params: { name: string } }>(
      '/v1/services/:name/instances',
      {
        schema: {
          params: {
            type: 'object',
            properties: { name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' } },
          },
        },
      },
      async (req) => {
        await ctx.callers.anyone(req);
        return { service: req.params.name, instances: await ctx.instances.resolve(req.params.name) };
      },
    );
  };
}
