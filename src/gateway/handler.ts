/**
 * Turns one node request into a context, runs the pipeline, and accounts for the outcome: a refusal is
 * written as a problem document, counted by reason and sent to the audit log; an allowed request is
 * counted and sampled into the audit log. Trusts: nothing (it only wires the stages).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AuditEvent, asBulwarkError } from '../core/index.ts';
import type { CanonicalRequest, RequestContext } from './context.ts';
import type { DenialReason } from './observability/metrics.ts';
import { runPipeline } from './pipeline.ts';
import { sendProblem } from './response.ts';
import type { GatewayRuntime } from './runtime.ts';

const EMPTY_REQUEST: CanonicalRequest = Object.freeze({
  method: '',
  path: '',
  upstreamPath: '',
  query: '',
  host: '',
  forwardHeaders: {},
  headers: {},
  peerIp: '',
});

const REASONS: Record<string, DenialReason> = {
  gateway_bad_request: 'normalization',
  gateway_path_rejected: 'normalization',
  gateway_host_rejected: 'normalization',
  gateway_misdirected: 'normalization',
  gateway_ip_denied: 'ip',
  gateway_rate_limited: 'rate_limit',
  gateway_concurrency_limited: 'rate_limit',
  gateway_rate_store_unavailable: 'rate_limit',
  gateway_unauthenticated: 'authn',
  gateway_forbidden: 'authz',
  gateway_cors_rejected: 'cors',
  gateway_validation_failed: 'validation',
  gateway_unsupported_media_type: 'validation',
  gateway_body_too_large: 'validation',
};

export function createHandler(runtime: GatewayRuntime) {
  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const ctx: RequestContext = {
      req,
      res,
      runtime,
      id: randomUUID(),
      startedAt: runtime.clock.now(),
      request: EMPTY_REQUEST,
      route: undefined,
      params: {},
      clientIp: '',
      principal: undefined,
      body: undefined,
      responseHeaders: {},
      releases: [],
      finished: false,
    };
    const began = process.hrtime.bigint();
    res.once('close', () => finish(ctx, began));
    runPipeline(ctx).catch((err: unknown) => refuse(ctx, err));
  };
}

function refuse(ctx: RequestContext, err: unknown): void {
  const { runtime } = ctx;
  const error = asBulwarkError(err);
  if (error.status >= 500)
    runtime.logger.warn({ err: err as Error, code: error.code, route: ctx.route?.name }, 'gateway error');
  const reason = REASONS[error.code];
  if (reason) {
    const route = ctx.route?.name ?? 'unmatched';
    runtime.metrics.denial(reason, route);
    runtime.audit.record({
      actor: actorOf(ctx),
      action: 'gateway.request.denied',
      target: { type: 'route', id: route },
      outcome: 'failure',
      reason: String(error.details?.['reason'] ?? error.code),
      source: { component: 'gateway', ...(ctx.clientIp ? { ip: ctx.clientIp } : {}) },
      requestId: ctx.id,
      details: { code: error.code, method: ctx.request.method, path: ctx.request.path },
    });
  }
  // A refused request whose body was not read leaves the connection in an unknown state: close it.
  // (HTTP/2 has no Connection field: node resets the stream if its body is left unread.)
  sendProblem(
    ctx.res,
    runtime,
    error,
    ctx.id,
    ctx.responseHeaders,
    ctx.req.httpVersionMajor === 1 && !ctx.req.complete,
  );
}

function finish(ctx: RequestContext, began: bigint): void {
  ctx.finished = true;
  for (const release of ctx.releases) release();
  const { runtime } = ctx;
  const route = ctx.route?.name ?? 'unmatched';
  const status = ctx.res.statusCode;
  runtime.metrics.request(
    route,
    ctx.principal?.consumer ?? 'anonymous',
    status,
    Number(process.hrtime.bigint() - began) / 1e9,
  );
  if (status < 400 && runtime.auditAllowSampleRate > 0 && runtime.random() < runtime.auditAllowSampleRate) {
    runtime.audit.record({
      actor: actorOf(ctx),
      action: 'gateway.request.allowed',
      target: { type: 'route', id: route },
      outcome: 'success',
      source: { component: 'gateway', ip: ctx.clientIp },
      requestId: ctx.id,
      details: { method: ctx.request.method, path: ctx.request.path, status, sampled: true },
    });
  }
}

/** Who made the request, as the audit log names it. */
function actorOf(ctx: RequestContext): AuditEvent['actor'] {
  const p = ctx.principal;
  return p
    ? { type: p.kind === 'user' ? 'user' : 'client', id: p.subject }
    : { type: 'system', id: 'anonymous' };
}
