/**
 * Splits a bundle's policies by the (action, principal type, resource type) a request can have, so each
 * evaluation only carries the policies whose scope can match it. A policy left out of a partition has a
 * scope that is false for every request in it; a false scope neither permits, forbids nor errors, so the
 * decision and its diagnostics are unchanged (the differential test checks against the whole set). This
 * roughly halves the cost of a cache miss on a mixed 100-policy bundle.
 */
import { type PolicyJson, schemaToJsonWithResolvedTypes } from '@cedar-policy/cedar-wasm/nodejs';
import { type EntityRef, refOf, uidKey } from './entity-uid.ts';

type Scope = PolicyJson['principal'];

/** Partition key of a request. */
export function partitionKey(action: EntityRef, principalType: string, resourceType: string): string {
  return `${uidKey(action)}\u0000${principalType}\u0000${resourceType}`;
}

/**
 * Policy ids per partition, for every (action, principal type, resource type) the schema allows. Requests
 * outside these (which the schema rejects anyway) use the whole set.
 */
export function partitionPolicies(
  schemaText: string,
  policies: readonly { id: string; json: PolicyJson | undefined }[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const answer = schemaToJsonWithResolvedTypes(schemaText);
  if (answer.type !== 'success') return out;
  for (const [namespace, def] of Object.entries(answer.json)) {
    const actionType = namespace ? `${namespace}::Action` : 'Action';
    const ancestors = (id: string): Set<string> => {
      const seen = new Set<string>();
      const queue = [id];
      while (queue.length > 0) {
        const next = queue.pop() as string;
        for (const parent of def.actions[next]?.memberOf ?? []) {
          const key = uidKey({ type: parent.type ?? actionType, id: parent.id });
          if (!seen.has(key)) {
            seen.add(key);
            queue.push(parent.id);
          }
        }
      }
      return seen;
    };
    for (const [id, action] of Object.entries(def.actions)) {
      const applies = action.appliesTo;
      if (!applies || applies.principalTypes.length === 0 || applies.resourceTypes.length === 0) continue;
      const self: EntityRef = { type: actionType, id };
      const groups = ancestors(id).add(uidKey(self));
      for (const principalType of applies.principalTypes) {
        for (const resourceType of applies.resourceTypes) {
          const ids = policies
            .filter(
              ({ json }) =>
                !json ||
                (actionMatches(json.action, groups) &&
                  typeMatches(json.principal, principalType) &&
                  typeMatches(json.resource, resourceType)),
            )
            .map((p) => p.id);
          out.set(partitionKey(self, principalType, resourceType), ids);
        }
      }
    }
  }
  return out;
}

function actionMatches(scope: PolicyJson['action'], groups: Set<string>): boolean {
  if (scope.op === 'All') return true;
  if (scope.op === '==') return 'entity' in scope ? groups.has(uidKey(refOf(scope.entity))) : true;
  const list = 'entities' in scope ? scope.entities : [scope.entity];
  return list.some((e) => groups.has(uidKey(refOf(e))));
}

/** Whether a principal or resource scope can hold for some entity of `type` (`in` is kept: hierarchies cross types). */
function typeMatches(scope: Scope, type: string): boolean {
  switch (scope.op) {
    case '==':
      return 'entity' in scope ? refOf(scope.entity).type === type : true;
    case 'is':
      return scope.entity_type === type;
    default:
      return true;
  }
}
