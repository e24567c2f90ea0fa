/**
 * The entities one decision needs, found without copying the store: the principal, the resource, entities
 * the context refers to, and everything reachable from them through parents and entity-valued attributes.
 * Cedar only reads an entity's data when an expression reaches it from those roots or from an entity
 * literal in a policy, so the slice decides exactly as the whole store would (a differential test checks).
 */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { type EntityRef, entityKey, refOf, uidKey } from './entity-uid.ts';

/** Known entities by key, built once per bundle. */
export class EntityIndex {
  readonly #byKey: Map<string, EntityJson>;
  constructor(entities: readonly EntityJson[]) {
    this.#byKey = new Map(entities.map((e) => [entityKey(e), e]));
  }
  get size(): number {
    return this.#byKey.size;
  }
  get(key: string): EntityJson | undefined {
    return this.#byKey.get(key);
  }
  values(): IterableIterator<EntityJson> {
    return this.#byKey.values();
  }
}

/**
 * Collects the slice for one request.
 *
 * @example
 * const entities = sliceEntities(new EntityIndex(bundle.entities), [principal, resource], context, tokenEntities); Entities given with the request (e.g. the caller's roles from its
 * token) override known ones with the same uid.
 */
export function sliceEntities(
  index: EntityIndex,
  roots: readonly EntityRef[],
  context: unknown,
  extra: readonly EntityJson[] | undefined,
): EntityJson[] {
  const given = extra && extra.length > 0 ? new Map(extra.map((e) => [entityKey(e), e])) : undefined;
  const seen = new Set<string>();
  const out: EntityJson[] = [];
  const queue: EntityRef[] = [...roots];
  collectRefs(context, queue);
  while (queue.length > 0) {
    const ref = queue.pop() as EntityRef;
    const key = uidKey(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    const entity = given?.get(key) ?? index.get(key);
    if (!entity) continue;
    out.push(entity);
    for (const parent of entity.parents) queue.push(refOf(parent));
    collectRefs(entity.attrs, queue);
    if (entity.tags) collectRefs(entity.tags, queue);
  }
  return out;
}

/** Entity references inside a Cedar JSON value: `{__entity: {type, id}}`, or `{type, id}` (schema-directed). */
function collectRefs(value: unknown, into: EntityRef[]): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, into);
    return;
  }
  const record = value as Record<string, unknown>;
  if ('__extn' in record) return;
  const escaped = record['__entity'] as EntityRef | undefined;
  if (escaped && typeof escaped === 'object') {
    into.push(escaped);
    return;
  }
  if (typeof record['type'] === 'string' && typeof record['id'] === 'string') {
    // Possibly a record that happens to have these fields; an extra entity in the slice changes nothing.
    into.push({ type: record['type'], id: record['id'] });
  }
  for (const key in record) collectRefs(record[key], into);
}
