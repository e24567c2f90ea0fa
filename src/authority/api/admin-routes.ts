/**
 * Operator API: join tokens (`bulwark authority join-token SERVICE`), revocation of a workload, and the
 * steps of a CA rotation. Callers hold the admin token or an SVID listed in `adminSpiffeIds`.
 */

import { isIP } from 'node:net';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { coreError } from '../../core/index.ts';
import { serviceSpiffeId } from '../../core/mtls/index.ts';
import type { RotationPhase } from '../ca/certificate-authority.ts';
import type { AuthorityContext } from './context.ts';
import { denied } from './denial.ts';

const SERVICE_NAME = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' } as const;
/** A DNS name (letters, digits, hyphens; no wildcard), an IPv4 address, or an IPv6 address in hex form. */
const HOST = {
  type: 'string',
  maxLength: 253,
  pattern:
    '^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|(?=[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{2,39})$',
} as const;

export function adminRoutes(ctx: AuthorityContext): FastifyPluginAsync {
  const admin = async (req: FastifyRequest, action: string) => {
    try {
      return await ctx.callers.admin(req);
    } catch (err) {
      return denied(ctx, req, action, 'unknown', err);
    }
  };

  return async (app) => {
    app.post<{ Body: { service: string; ttlSeconds?: number; hosts?: string[] } }>(
      '/v1/join-tokens',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['service'],
            properties: {
              service: SERVICE_NAME,
              ttlSeconds: { type: 'integer', minimum: 10, maximum: 604800 },
              // Host names and IP addresses the workload serves on, added to its SVID as DNS / IP SANs.
              hosts: { type: 'array', maxItems: 8, uniqueItems: true, items: HOST },
            },
          },
        },
      },
      async (req, reply) => {
        const caller = await admin(req, 'authority.join_token.create');
        const badHost = req.body.hosts?.find((h) => h.includes(':') && isIP(h) !== 6);
        if (badHost !== undefined) {
          throw coreError(
            'invalid_request',
            'hosts holds a value that is neither a DNS name nor an IP address',
            {
              details: { field: 'hosts' },
            },
          );
        }
        const spiffeId = serviceSpiffeId(ctx.config.trustDomain, req.body.service);
        const ttl = (req.body.ttlSeconds ?? ctx.config.joinTokenTtlSeconds) * 1000;
        const grant = await ctx.joinTokens.create(req.body.service, spiffeId, ttl, req.body.hosts ?? []);
        const actor = {
          type: caller.kind === 'admin' && caller.id.startsWith('spiffe://') ? 'service' : 'system',
          id: caller.kind === 'admin' ? caller.id : 'unknown',
        } as const;
        if (grant.reinstated) {
          // A new join token is how an operator readmits a revoked identity: recorded as its own event.
          ctx.audit.record({
            actor,
            action: 'authority.identity.reinstate',
            target: { type: 'spiffe_id', id: spiffeId },
            outcome: 'success',
            source: { component: 'authority', ip: req.ip },
            requestId: req.id,
            details: {
              revokedAt: new Date(grant.reinstated.revokedAt).toISOString(),
              revocationReason: grant.reinstated.reason,
            },
          });
        }
        ctx.audit.record({
          actor,
          action: 'authority.join_token.create',
          target: { type: 'spiffe_id', id: spiffeId },
          outcome: 'success',
          source: { component: 'authority', ip: req.ip },
          requestId: req.id,
        });
        reply.code(201).header('cache-control', 'no-store');
        return {
          token: grant.token,
          service: grant.service,
          spiffeId,
          expiresAt: new Date(grant.expiresAt).toISOString(),
        };
      },
    );

    app.post<{ Body: { spiffeId: string; reason?: string } }>(
      '/v1/revocations',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['spiffeId'],
            properties: {
              spiffeId: { type: 'string', minLength: 10, maxLength: 2048 },
              reason: { type: 'string', maxLength: 200 },
            },
          },
        },
      },
      async (req) => {
        const caller = await admin(req, 'authority.svid.revoke');
        const serials = await ctx.revocations.revoke(req.body.spiffeId, req.body.reason ?? 'unspecified');
        ctx.metrics.revoked.inc(serials.length);
        ctx.audit.record({
          actor: { type: 'system', id: caller.kind === 'admin' ? caller.id : 'unknown' },
          action: 'authority.svid.revoke',
          target: { type: 'spiffe_id', id: req.body.spiffeId },
          outcome: 'success',
          reason: req.body.reason ?? 'unspecified',
          source: { component: 'authority', ip: req.ip },
          requestId: req.id,
          details: { serials, identityRevoked: true },
        });
        return { spiffeId: req.body.spiffeId, revoked: serials };
      },
    );

    app.get('/v1/rotation', async (req) => {
      await admin(req, 'authority.ca.read');
      return { authorities: await ctx.ca.rotationState(), sequence: await ctx.ca.bundleSequence() };
    });

    app.post<{ Body: { phase: RotationPhase } }>(
      '/v1/rotation',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['phase'],
            properties: { phase: { type: 'string', enum: ['prepare', 'activate', 'retire'] } },
          },
        },
      },
      async (req) => {
        const caller = await admin(req, 'authority.ca.rotate');
        await ctx.ca.rotate(req.body.phase);
        await ctx.onBundleChange();
        ctx.audit.record({
          actor: { type: 'system', id: caller.kind === 'admin' ? caller.id : 'unknown' },
          action: `authority.ca.${req.body.phase}`,
          outcome: 'success',
          source: { component: 'authority', ip: req.ip },
          requestId: req.id,
        });
        return { authorities: await ctx.ca.rotationState(), sequence: await ctx.ca.bundleSequence() };
      },
    );
  };
}
