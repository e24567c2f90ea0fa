/**
 * The embedded decision engine the gateway, the sidecar and `policy` itself run in-process. A bundle is
 * compiled and pre-parsed once (`preparsePolicySet`), then each decision is one `statefulIsAuthorized` call
 * over a small entity slice, or a cache hit. Applying a bundle is a single reference swap: `decide` is
 * synchronous and reads the active bundle once, so a decision is made wholly under one bundle, never a mix.
 * Without a bundle, or when evaluation fails, the answer is deny (zero trust: nothing is allowed by default).
 */
import { randomUUID } from 'node:crypto';
import {
  type Context,
  type EntityJson,
  type Expr,
  type PolicyJson,
  preparsePolicySet,
  preparseSchema,
  statefulIsAuthorized,
} from '@cedar-policy/cedar-wasm/nodejs';
import { type BundleSource, type CompiledBundle, compileBundle } from './bundle.ts';
import { CacheKeyPlan } from './cache-key.ts';
import { DecisionCache } from './decision-cache.ts';
import type { DecisionLog } from './decision-log.ts';
import { EntityIndex, sliceEntities } from './entity-slice.ts';
import { actionRef, type EntityRef } from './entity-uid.ts';
import { policyEngineError } from './errors.ts';
import { partitionKey, partitionPolicies } from './policy-partition.ts';

export interface DecisionRequest {
  principal: EntityRef;
  /** `read`, `Action::"read"`, or a reference. */
  action: string | EntityRef;
  resource: EntityRef;
  /** Cedar JSON context (see `requestContext` for Bulwark's). */
  context?: Context;
  /** Entities known only for this request (e.g. the caller from its token); override the bundle's. */
  entities?: readonly EntityJson[];
}

export interface DecisionError {
  /** The policy whose evaluation failed; absent when the request itself was rejected. */
  policyId?: string;
  message: string;
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** Ids of the policies that determined the decision (the permits for allow, the forbids for deny). */
  policies: readonly string[];
  errors: readonly DecisionError[];
  /** Hash of the bundle that decided; null when none was loaded. */
  bundle: string | null;
  /** Whether the answer came from the decision cache. */
  cached: boolean;
}

export interface PolicyEngineOptions {
  /** Most decisions kept per bundle (0 disables the cache). */
  cacheSize?: number;
  decisionLog?: DecisionLog;
}

interface Active {
  bundle: CompiledBundle;
  slot: string;
  index: EntityIndex;
  /** Entities that policy conditions name literally; their data may be read whatever the request. */
  literals: readonly EntityRef[];
  cache: DecisionCache<{ miss: Decision; hit: Decision }>;
  keys: CacheKeyPlan;
  /** Pre-parsed policy set per (action, principal type, resource type); `slot` holds the whole set. */
  partitions: Map<string, string>;
}

/**
 * @example
 * const engine = new PolicyEngine({ cacheSize: 10_000 });
 * engine.load({ policies: [{ file: 'rbac.cedar', text }], entities: { file: 'entities.json', entities } });
 * engine.decide({ principal, action: 'read', resource, context }).decision; // 'allow' | 'deny'
 */
export class PolicyEngine {
  readonly #id = randomUUID();
  readonly #cacheSize: number;
  readonly #log: DecisionLog | undefined;
  #generation = 0;
  #active: Active | undefined;

  constructor(options: PolicyEngineOptions = {}) {
    this.#cacheSize = options.cacheSize ?? 10_000;
    this.#log = options.decisionLog;
  }

  /** The bundle deciding now, if any. */
  get bundle(): CompiledBundle | undefined {
    return this.#active?.bundle;
  }

  get cacheStats(): { size: number; hits: number; misses: number } {
    const cache = this.#active?.cache;
    return { size: cache?.size ?? 0, hits: cache?.hits ?? 0, misses: cache?.misses ?? 0 };
  }

  /**
   * Compiles and applies a bundle. On any problem it throws `policy_bundle_invalid` and the bundle in
   * force keeps deciding.
   */
  load(source: BundleSource): CompiledBundle {
    const compiled = compileBundle(source);
    this.apply(compiled);
    return compiled;
  }

  /** Applies a compiled bundle atomically; a no-op when it is the one in force. */
  apply(bundle: CompiledBundle): void {
    if (this.#active?.bundle.hash === bundle.hash) return;
    // Two slots per engine, alternating: the one in force is never overwritten, and wasm memory stays
    // bounded however many bundles a long-running gateway goes through.
    const slot = `${this.#id}/${this.#generation++ % 2}`;
    const texts = new Map(bundle.policies.map((p) => [p.id, p.text]));
    const parsed = bundle.policies.map((p) => ({ id: p.id, json: bundle.parsed.get(p.id) }));
    const answers = [
      preparseSchema(slot, bundle.schemaText),
      preparsePolicySet(slot, { staticPolicies: Object.fromEntries(texts) }),
    ];
    const partitions = new Map<string, string>();
    // Partitions with the same policies share one pre-parsed set (most do: read/write/delete often agree).
    const sets = new Map<string, string>();
    for (const [key, ids] of partitionPolicies(bundle.schemaText, parsed)) {
      const members = ids.join('\u0000');
      let id = sets.get(members);
      if (!id) {
        id = `${slot}#${sets.size}`;
        sets.set(members, id);
        answers.push(
          preparsePolicySet(id, {
            staticPolicies: Object.fromEntries(ids.map((i) => [i, texts.get(i) as string])),
          }),
        );
      }
      partitions.set(key, id);
    }
    for (const answer of answers) {
      if (answer.type === 'failure') {
        throw policyEngineError('policy_bundle_invalid', answer.errors.map((e) => e.message).join('; '));
      }
    }
    this.#active = {
      bundle,
      slot,
      index: new EntityIndex(bundle.entities),
      literals: literalEntities(parsed),
      cache: new DecisionCache(this.#cacheSize),
      keys: new CacheKeyPlan(bundle.schemaText, parsed),
      partitions,
    };
  }

  /**
   * Decides one request. Never throws for bad input: a request that cannot be evaluated is denied with
   * the reason in `errors`.
   *
   * @example
   * const d = engine.decide({ principal: { type: 'Bulwark::User', id: 'alice' }, action: 'read',
   *   resource: { type: 'Bulwark::Route', id: 'orders.list' }, context });
   * if (d.decision !== 'allow') reply.code(403);
   */
  decide(request: DecisionRequest, requestId?: string): Decision {
    const active = this.#active;
    let decision: Decision;
    try {
      decision = active ? this.#evaluate(active, request) : denied(null, 'no policy bundle is loaded');
    } catch (err) {
      // Malformed input (a caller bug or an attacker's request) is a deny, never an exception on the hot path.
      decision = denied(
        active?.bundle.hash ?? null,
        `request cannot be evaluated: ${(err as Error).message}`,
      );
    }
    try {
      this.#log?.record(request, decision, requestId);
    } catch {
      // The decision log must never change or block a decision.
    }
    return decision;
  }

  /**
   * Evaluates a request without logging or caching its decision. A process's first evaluations run the
   * wasm evaluator's code for the first time (tens of milliseconds); a service rehearses a typical request
   * at start so that no caller pays for it.
   */
  rehearse(request: DecisionRequest): void {
    const active = this.#active;
    if (!active) return;
    try {
      this.#evaluate(active, request, false);
    } catch {
      // A rehearsal only warms code; its outcome does not matter.
    }
  }

  #evaluate(active: Active, request: DecisionRequest, remember = true): Decision {
    const action = actionRef(request.action);
    const context = request.context ?? {};
    const key = active.keys.key(request.principal, action, request.resource, context, request.entities);
    const hit = active.cache.get(key);
    if (hit) return hit.hit;
    const roots = [request.principal, request.resource, ...active.literals];
    const entities = sliceEntities(active.index, roots, context, request.entities);
    const answer = statefulIsAuthorized({
      principal: request.principal,
      action,
      resource: request.resource,
      context,
      entities,
      preparsedPolicySetId:
        active.partitions.get(partitionKey(action, request.principal.type, request.resource.type)) ??
        active.slot,
      preparsedSchemaName: active.slot,
      // Reject requests the schema does not allow (wrong types, missing context keys) instead of letting
      // a forbid policy error out and be skipped.
      validateRequest: true,
    });
    if (answer.type === 'failure') {
      return denied(active.bundle.hash, answer.errors.map((e) => e.message).join('; '));
    }
    const { decision, diagnostics } = answer.response;
    const miss: Decision = Object.freeze({
      decision,
      policies: Object.freeze([...diagnostics.reason]),
      errors: Object.freeze(
        diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
      ),
      bundle: active.bundle.hash,
      cached: false,
    });
    if (remember) active.cache.set(key, { miss, hit: Object.freeze({ ...miss, cached: true }) });
    return miss;
  }
}

function denied(bundle: string | null, message: string): Decision {
  return { decision: 'deny', policies: [], errors: [{ message }], bundle, cached: false };
}

/** Entity literals inside policy conditions (scope constraints never read entity data). */
function literalEntities(policies: readonly { json: PolicyJson | undefined }[]): EntityRef[] {
  const found = new Map<string, EntityRef>();
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    const record = value as Record<string, unknown>;
    const entity = record['__entity'] as EntityRef | undefined;
    if (entity && typeof entity.type === 'string') {
      found.set(`${entity.type}::${JSON.stringify(entity.id)}`, entity);
      return;
    }
    for (const key in record) walk(record[key]);
  };
  for (const { json } of policies) {
    for (const clause of json?.conditions ?? []) walk(clause.body as Expr);
  }
  return [...found.values()];
}
