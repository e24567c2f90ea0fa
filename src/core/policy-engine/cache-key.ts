/**
 * Decision-cache keys. The key is the canonical JSON of every decision input, except context attributes
 * that cannot change the answer: attributes the schema types as `String` that no policy of the bundle reads.
 * Cedar only looks at such a value when validating the request, and for a String that check is "present and
 * a string", so the key keeps the attribute's name (in `dropped`) but not its value. A per-resource path
 * (`/orders/123`) then no longer splits the cache when no policy looks at `context.path`. Any policy that uses
 * `context` other than as `context.x` / `context has x` turns this off for the bundle.
 */
import {
  type Context,
  type Expr,
  type PolicyJson,
  schemaToJsonWithResolvedTypes,
} from '@cedar-policy/cedar-wasm/nodejs';
import { canonicalJson } from './canonical.ts';
import { type EntityRef, uidKey } from './entity-uid.ts';

const NONE: ReadonlySet<string> = new Set();

/** @example const key = new CacheKeyPlan(schemaText, policies).key(principal, action, resource, context, undefined); */
export class CacheKeyPlan {
  /** Per action (`uidKey`): context attributes whose value stays out of the key when it is a string. */
  readonly #droppable = new Map<string, ReadonlySet<string>>();

  constructor(schemaText: string, policies: readonly { json: PolicyJson | undefined }[]) {
    const read = contextReads(policies);
    if (read === 'all') return;
    for (const [action, strings] of stringContextAttributes(schemaText)) {
      const droppable = new Set([...strings].filter((name) => !read.has(name)));
      if (droppable.size > 0) this.#droppable.set(action, droppable);
    }
  }

  /** Names dropped for an action, for tests and docs. */
  droppable(action: EntityRef): ReadonlySet<string> {
    return this.#droppable.get(uidKey(action)) ?? NONE;
  }

  key(
    principal: EntityRef,
    action: EntityRef,
    resource: EntityRef,
    context: Context,
    entities: unknown,
  ): string {
    const droppable = this.#droppable.get(uidKey(action));
    if (!droppable) return canonicalJson([principal, action, resource, context, entities ?? null]);
    // A null-prototype record: a `__proto__` key from JSON.parse must stay a key, not become a prototype.
    const kept: Record<string, unknown> = Object.create(null);
    const dropped: string[] = [];
    for (const name of Object.keys(context)) {
      const value = context[name];
      if (droppable.has(name) && typeof value === 'string') dropped.push(name);
      else kept[name] = value;
    }
    return canonicalJson([principal, action, resource, kept, dropped.sort(), entities ?? null]);
  }
}

/** Context attributes the policies read, or 'all' when one uses `context` as a whole. */
function contextReads(policies: readonly { json: PolicyJson | undefined }[]): Set<string> | 'all' {
  const read = new Set<string>();
  let all = false;
  const isContext = (e: unknown) => (e as { Var?: string } | null)?.Var === 'context';
  const walk = (value: unknown): void => {
    if (all || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    const record = value as Record<string, unknown>;
    if (isContext(record)) {
      all = true;
      return;
    }
    for (const op of ['.', 'has'] as const) {
      const access = record[op] as { left: unknown; attr: string | string[] } | undefined;
      if (access && isContext(access.left)) {
        read.add(Array.isArray(access.attr) ? (access.attr[0] as string) : access.attr);
        return;
      }
    }
    for (const key in record) walk(record[key]);
  };
  for (const { json } of policies) {
    if (!json) return 'all';
    for (const clause of json.conditions) walk(clause.body as Expr);
  }
  return all ? 'all' : read;
}

/** For each action of the schema, the context attributes typed String. */
function stringContextAttributes(schemaText: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const answer = schemaToJsonWithResolvedTypes(schemaText);
  if (answer.type !== 'success') return out;
  for (const [namespace, def] of Object.entries(answer.json)) {
    const prefix = namespace ? `${namespace}::` : '';
    for (const [id, action] of Object.entries(def.actions)) {
      let type = action.appliesTo?.context as
        | { type?: string; attributes?: Record<string, { type?: string }> }
        | undefined;
      if (type && type.type !== 'Record' && typeof type.type === 'string') {
        const name = type.type.startsWith(prefix) ? type.type.slice(prefix.length) : type.type;
        type = def.commonTypes?.[name] as typeof type;
      }
      if (type?.type !== 'Record' || !type.attributes) continue;
      const strings = Object.entries(type.attributes)
        .filter(([, t]) => t.type === 'String')
        .map(([name]) => name);
      out.set(uidKey({ type: `${prefix}Action`, id }), new Set(strings));
    }
  }
  return out;
}
