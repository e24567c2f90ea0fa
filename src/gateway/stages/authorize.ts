/**
 * Stage 8: the route's Cedar policy, decided in-process by the embedded engine (core/policy-engine).
 * Trusts `ctx.principal` (verified) and the canonical request. Principal: `User`, `ServiceAccount` (client
 * credentials) with its roles as parents and its tenant; resource: `Route::"<route name>"`; action from the
 * route or the method (GET/HEAD/OPTIONS read, DELETE delete, else write). In shadow mode a deny is logged
 * and counted but the request goes on, so a new policy can be watched before it is enforced.
 */
import { hash } from 'node:crypto';
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { type Decision, type DecisionRequest, requestContext } from '../../core/policy-engine/index.ts';
import type { Principal, RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';
import type { RouteSpec } from '../routes/route-file.ts';
import type { GatewayRuntime } from '../runtime.ts';

const NS = 'Bulwark';
const DECISION_CACHE_SIZE = 50_000;
/** Decision keys longer than this are kept as their hash (see {@link authorize}). */
const MAX_PLAIN_KEY = 512;

export function authorize(ctx: RequestContext): void {
  const route = ctx.route;
  const rule = route?.spec.authorize;
  if (!route || !rule) return;
  const p = ctx.principal;
  if (!p) throw gatewayError('gateway_forbidden', 'the policy does not allow anonymous callers');
  const method = ctx.request.method;
  const action =
    rule.action ??
    (method === 'GET' || method === 'HEAD' || method === 'OPTIONS'
      ? 'read'
      : method === 'DELETE'
        ? 'delete'
        : 'write');
  const at = new Date(ctx.startedAt);
  // Every input of the decision is in the key (bundle, principal entity, resource entity, action, context),
  // so a hit is the answer Cedar would give; a string join is far cheaper than the engine's canonical JSON.
  const input = [
    ctx.runtime.engine.bundle?.hash ?? '',
    p.kind,
    p.subject,
    p.tenant,
    p.roles.join('\u0001'),
    p.amr.join('\u0001'),
    action,
    route.name,
    rule.tenant ?? 'default',
    rule.api ?? '',
    method,
    ctx.request.path,
    ctx.clientIp,
    at.getUTCHours(),
    at.getUTCDay(),
  ].join('\u0000');
  // The path is the caller's to choose, up to the header limit (16 KiB): a long input is kept as its
  // SHA-256 (which holds no NUL, so it never equals a short key), else 50,000 entries could hold ~800 MB.
  const key = input.length <= MAX_PLAIN_KEY ? input : hash('sha256', input, 'base64url');
  const cache = ctx.runtime.decisions;
  let decision = cache.get(key);
  if (!decision) {
    decision = decide(ctx, p, action, route.name, rule);
    if (cache.size >= DECISION_CACHE_SIZE) cache.clear();
    cache.set(key, decision);
  }
  if (decision.decision === 'allow') return;
  if (rule.shadow) {
    ctx.runtime.metrics.denial('authz_shadow', route.name);
    ctx.runtime.audit.record({
      actor: { type: p.kind === 'user' ? 'user' : 'client', id: p.subject },
      action: 'gateway.authorize.shadow_deny',
      target: { type: 'route', id: route.name },
      outcome: 'success',
      reason: 'shadow mode: the policy would deny this request',
      source: { component: 'gateway', ip: ctx.clientIp },
      requestId: ctx.id,
      details: { policies: decision.policies, bundle: decision.bundle },
    });
    return;
  }
  throw gatewayError('gateway_forbidden', 'the policy does not allow this request', {
    details: { reason: 'policy_deny', policies: decision.policies },
  });
}

function decide(
  ctx: RequestContext,
  p: Principal,
  action: string,
  routeName: string,
  rule: NonNullable<RouteSpec['authorize']>,
): Decision {
  return ctx.runtime.engine.decide(
    decisionRequest(p, action, routeName, rule, {
      method: ctx.request.method,
      path: ctx.request.path,
      sourceIp: ctx.clientIp,
      at: ctx.startedAt,
    }),
    ctx.id,
  );
}

function decisionRequest(
  p: Pick<Principal, 'kind' | 'subject' | 'tenant' | 'roles' | 'amr'>,
  action: string,
  routeName: string,
  rule: NonNullable<RouteSpec['authorize']>,
  request: { method: string; path: string; sourceIp: string; at: number },
): DecisionRequest {
  const principal = { type: `${NS}::${p.kind === 'user' ? 'User' : 'ServiceAccount'}`, id: p.subject };
  const resource = { type: `${NS}::Route`, id: routeName };
  const entities: EntityJson[] = [
    {
      uid: principal,
      attrs: { tenant: { __entity: { type: `${NS}::Tenant`, id: p.tenant } } },
      parents: p.roles.map((r) => ({ type: `${NS}::Role`, id: r })),
    },
    {
      uid: resource,
      attrs: { tenant: { __entity: { type: `${NS}::Tenant`, id: rule.tenant ?? 'default' } } },
      parents: rule.api ? [{ type: `${NS}::Api`, id: rule.api }] : [],
    },
  ];
  return {
    principal,
    action,
    resource,
    context: requestContext({ ...request, amr: p.amr }),
    entities,
  };
}

/**
 * Rehearses one decision of the first route that has a policy (not logged, not cached), so the first
 * caller after a start or a route reload does not wait for the engine's first run (~25-40 ms).
 */
export function rehearseAuthorize(runtime: Pick<GatewayRuntime, 'engine' | 'table'>): void {
  const route = runtime.table.routes.find((r) => r.spec.authorize);
  const rule = route?.spec.authorize;
  if (!route || !rule) return;
  const nobody = { kind: 'user' as const, subject: 'rehearsal', tenant: 'default', roles: [], amr: [] };
  runtime.engine.rehearse(
    decisionRequest(nobody, rule.action ?? 'read', route.name, rule, {
      method: 'GET',
      path: '/',
      sourceIp: '127.0.0.1',
      at: Date.now(),
    }),
  );
}
