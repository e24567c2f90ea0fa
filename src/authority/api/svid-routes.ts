/**
 * Workload API: the first SVID in exchange for a one-time join token (`POST /v1/attest`), renewal over
 * mTLS with the current SVID (`POST /v1/svids`), the trust bundle (`GET /v1/bundle`) and the revocation
 * feed (`GET /v1/revocations`). Every refusal is audited and counted by reason.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { toSpiffeBundle } from '../ca/spiffe-bundle.ts';
import type { AuthorityContext } from './context.ts';
import { denied } from './denial.ts';

const CSR = { type: 'string', minLength: 64, maxLength: 8192 } as const;

export function svidRoutes(ctx: AuthorityContext): FastifyPluginAsync {
  const svidResponse = async (issued: {
    spiffeId: string;
    serial: string;
    certChain: string;
    notBefore: number;
    notAfter: number;
  }) => ({
    spiffeId: issued.spiffeId,
    serial: issued.serial,
    certChain: issued.certChain,
    bundle: (await ctx.ca.trustedRoots()).map((r) => r.pem),
    notBefore: new Date(issued.notBefore).toISOString(),
    notAfter: new Date(issued.notAfter).toISOString(),
  });

  const issue = async (
    spiffeId: string,
    csr: string,
    kind: 'attest' | 'renew',
    req: FastifyRequest,
    hosts: readonly string[],
    presentedSerial?: string,
  ) => {
    const started = performance.now();
    const issued = await ctx.ca.issue(spiffeId, csr, presentedSerial, hosts);
    ctx.metrics.issueSeconds.observe((performance.now() - started) / 1000);
    ctx.metrics.issued.inc({ kind });
    ctx.metrics.svidExpiry.set({ spiffe_id: spiffeId }, Math.floor(issued.notAfter / 1000));
    ctx.audit.record({
      actor: { type: 'service', id: spiffeId },
      action: `authority.svid.${kind}`,
      target: { type: 'x509-svid', id: issued.serial },
      outcome: 'success',
      source: { component: 'authority', ip: req.ip },
      requestId: req.id,
      details: { notAfter: new Date(issued.notAfter).toISOString() },
    });
    return svidResponse(issued);
  };

  return async (app) => {
    app.post<{ Body: { joinToken: string; csr: string } }>(
      '/v1/attest',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['joinToken', 'csr'],
            properties: { joinToken: { type: 'string', minLength: 1, maxLength: 100 }, csr: CSR },
          },
        },
      },
      async (req) => {
        let grant: { spiffeId: string; hosts: string[] };
        try {
          grant = await ctx.joinTokens.redeem(req.body.joinToken);
        } catch (err) {
          return denied(ctx, req, 'authority.svid.attest', 'unknown', err);
        }
        try {
          return await issue(grant.spiffeId, req.body.csr, 'attest', req, grant.hosts);
        } catch (err) {
          return denied(ctx, req, 'authority.svid.attest', grant.spiffeId, err);
        }
      },
    );

    app.post<{ Body: { csr: string } }>(
      '/v1/svids',
      {
        schema: {
          body: { type: 'object', additionalProperties: false, required: ['csr'], properties: { csr: CSR } },
        },
      },
      async (req) => {
        let spiffeId = 'unknown';
        try {
          const peer = await ctx.callers.workload(req);
          spiffeId = peer.spiffeId.uri;
          // The serial is checked again when the new SVID is recorded: it may be revoked in between.
          // A renewal keeps the host names the join token granted: they are in the SVID being renewed.
          const hosts = hostsOf((req.raw.socket as TLSSocket).getPeerCertificate());
          return await issue(spiffeId, req.body.csr, 'renew', req, hosts, peer.serial);
        } catch (err) {
          return denied(ctx, req, 'authority.svid.renew', spiffeId, err);
        }
      },
    );

    app.get('/v1/bundle', async (_req, reply) => {
      const roots = await ctx.ca.trustedRoots();
      const refresh = Math.max(5, Math.floor(ctx.config.svidTtlSeconds / 12));
      reply.header('cache-control', 'no-cache');
      return toSpiffeBundle(
        roots.map((r) => r.pem),
        await ctx.ca.bundleSequence(),
        refresh,
      );
    });

    app.get<{ Querystring: { after?: number; waitMs?: number } }>(
      '/v1/revocations',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              after: { type: 'integer', minimum: 0, default: 0 },
              waitMs: { type: 'integer', minimum: 0, maximum: 30000, default: 0 },
            },
          },
        },
      },
      async (req) => {
        await ctx.callers.anyone(req);
        return ctx.revocations.since(req.query.after ?? 0, req.query.waitMs ?? 0);
      },
    );
  };
}

/** The DNS and IP SANs of a certificate, in their textual form. */
function hostsOf(cert: PeerCertificate): string[] {
  return (cert.subjectaltname ?? '')
    .split(', ')
    .map((name) => /^(?:DNS|IP Address):(.+)$/.exec(name)?.[1])
    .filter((host): host is string => host !== undefined);
}
