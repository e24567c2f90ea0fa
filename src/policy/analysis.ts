/**
 * Policy analysis over the known entities (the bundle's `entities.json`): who can do an action on a
 * resource, what a principal can do, and which requests change decision between two bundles. Requests are
 * enumerated from the schema's `appliesTo` (principal and resource types per action) and decided by the
 * same engine the gateways run, under one given context (ABAC conditions are answered for that context).
 */
import { type Context, type EntityJson, schemaToJson } from '@cedar-policy/cedar-wasm/nodejs';
import {
  type CompiledBundle,
  type EntityRef,
  formatRef,
  PolicyEngine,
  refOf,
  uidKey,
} from '../core/policy-engine/index.ts';

/** The context analysis uses when none is given: an ordinary weekday request at noon, password login. */
export const DEFAULT_ANALYSIS_CONTEXT: Context = {
  method: 'GET',
  path: '/',
  sourceIp: '10.0.0.1',
  amr: ['pwd'],
  hour: 12,
  weekday: 3,
};

export interface ActionSpec {
  action: EntityRef;
  principalTypes: string[];
  resourceTypes: string[];
}

export interface AnalysisRow {
  principal: string;
  action: string;
  resource: string;
  policies: readonly string[];
}

export interface DiffRow {
  principal: string;
  action: string;
  resource: string;
  before: 'allow' | 'deny';
  after: 'allow' | 'deny';
  beforePolicies: readonly string[];
  afterPolicies: readonly string[];
}

/** The actions requests can name (those with `appliesTo`), from the bundle's schema. */
export function schemaActions(bundle: CompiledBundle): ActionSpec[] {
  const answer = schemaToJson(bundle.schemaText);
  if (answer.type !== 'success') return [];
  const out: ActionSpec[] = [];
  for (const [namespace, def] of Object.entries(answer.json)) {
    const qualify = (name: string) => (name.includes('::') || !namespace ? name : `${namespace}::${name}`);
    for (const [id, action] of Object.entries(def.actions)) {
      if (!action.appliesTo) continue;
      out.push({
        action: { type: qualify('Action'), id },
        principalTypes: action.appliesTo.principalTypes.map(qualify),
        resourceTypes: action.appliesTo.resourceTypes.map(qualify),
      });
    }
  }
  return out;
}

function engineFor(bundle: CompiledBundle): PolicyEngine {
  const engine = new PolicyEngine({ cacheSize: 0 });
  engine.apply(bundle);
  return engine;
}

const ofType = (entities: readonly EntityJson[], types: readonly string[]): EntityRef[] =>
  entities.map((e) => refOf(e.uid)).filter((ref) => types.includes(ref.type));

/**
 * Principals allowed to do `action` on `resource`, with the policies that allow each.
 *
 * @example
 * whoCan(bundle, actionRef('delete'), parseEntityRef('Route::"orders.list"')); // [{ principal: 'User::"ada"', ... }]
 */
export function whoCan(
  bundle: CompiledBundle,
  action: EntityRef,
  resource: EntityRef,
  context = DEFAULT_ANALYSIS_CONTEXT,
): AnalysisRow[] {
  const engine = engineFor(bundle);
  const spec = schemaActions(bundle).find((a) => uidKey(a.action) === uidKey(action));
  const types = spec?.principalTypes ?? [];
  const rows: AnalysisRow[] = [];
  for (const principal of ofType(bundle.entities, types)) {
    const d = engine.decide({ principal, action, resource, context });
    if (d.decision === 'allow') rows.push(row(principal, action, resource, d.policies));
  }
  return rows;
}

/**
 * Every (action, resource) among the known entities that `principal` is allowed.
 *
 * @example
 * whatCan(bundle, parseEntityRef('User::"vera"')); // [{ action: 'Action::"read"', resource: 'Route::"orders.list"', ... }]
 */
export function whatCan(
  bundle: CompiledBundle,
  principal: EntityRef,
  context = DEFAULT_ANALYSIS_CONTEXT,
): AnalysisRow[] {
  const engine = engineFor(bundle);
  const rows: AnalysisRow[] = [];
  for (const spec of schemaActions(bundle)) {
    if (!spec.principalTypes.includes(principal.type)) continue;
    for (const resource of ofType(bundle.entities, spec.resourceTypes)) {
      const d = engine.decide({ principal, action: spec.action, resource, context });
      if (d.decision === 'allow') rows.push(row(principal, spec.action, resource, d.policies));
    }
  }
  return rows;
}

/**
 * Requests over the entities and actions known to either bundle whose decision differs between them.
 *
 * @example
 * diffBundles(compileBundle(readBundleDirectory('old')), compileBundle(readBundleDirectory('new')));
 */
export function diffBundles(
  before: CompiledBundle,
  after: CompiledBundle,
  context = DEFAULT_ANALYSIS_CONTEXT,
): DiffRow[] {
  const old = engineFor(before);
  const next = engineFor(after);
  const entities = new Map<string, EntityJson>();
  for (const e of [...before.entities, ...after.entities]) entities.set(uidKey(refOf(e.uid)), e);
  const all = [...entities.values()];
  const specs = new Map<string, ActionSpec>();
  for (const s of [...schemaActions(before), ...schemaActions(after)]) {
    const key = uidKey(s.action);
    const known = specs.get(key);
    specs.set(key, {
      action: s.action,
      principalTypes: [...new Set([...(known?.principalTypes ?? []), ...s.principalTypes])],
      resourceTypes: [...new Set([...(known?.resourceTypes ?? []), ...s.resourceTypes])],
    });
  }
  const rows: DiffRow[] = [];
  for (const spec of specs.values()) {
    for (const principal of ofType(all, spec.principalTypes)) {
      for (const resource of ofType(all, spec.resourceTypes)) {
        const request = { principal, action: spec.action, resource, context };
        const a = old.decide(request);
        const b = next.decide(request);
        if (a.decision !== b.decision) {
          rows.push({
            ...row(principal, spec.action, resource, []),
            before: a.decision,
            after: b.decision,
            beforePolicies: a.policies,
            afterPolicies: b.policies,
          });
        }
      }
    }
  }
  return rows;
}

function row(
  principal: EntityRef,
  action: EntityRef,
  resource: EntityRef,
  policies: readonly string[],
): AnalysisRow {
  return {
    principal: formatRef(principal),
    action: formatRef(action),
    resource: formatRef(resource),
    policies,
  };
}
