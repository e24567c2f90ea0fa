/** Entity references: the JSON shape Cedar takes, a stable text key, and the `Type::"id"` literal syntax. */
import type { EntityJson, EntityUidJson } from '@cedar-policy/cedar-wasm/nodejs';
import { BULWARK_NAMESPACE } from './schema.ts';

export interface EntityRef {
  type: string;
  id: string;
}

/** Unwraps Cedar's `{ "__entity": {...} }` escape. */
export function refOf(uid: EntityUidJson): EntityRef {
  return '__entity' in uid ? uid.__entity : uid;
}

/** `Type::"id"`, the Cedar literal: injective, so usable as a map key. */
export function uidKey(ref: EntityRef): string {
  return `${ref.type}::${JSON.stringify(ref.id)}`;
}

const LITERAL = /^((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::("(?:[^"\\]|\\.)*")$/;

/**
 * Parses `User::"alice"` (the Bulwark namespace is implied when the type has none) or
 * `Bulwark::Service::"spiffe://example.org/orders"`.
 *
 * @example
 * parseEntityRef('User::"alice"'); // { type: 'Bulwark::User', id: 'alice' }
 */
export function parseEntityRef(text: string, namespace = BULWARK_NAMESPACE): EntityRef {
  const match = LITERAL.exec(text.trim());
  if (!match) throw new TypeError(`not an entity literal like User::"alice": ${text}`);
  const type = match[1] as string;
  return { type: type.includes('::') ? type : `${namespace}::${type}`, id: JSON.parse(match[2] as string) };
}

/** An action given as `read`, `Action::"read"` or a reference. */
export function actionRef(action: string | EntityRef, namespace = BULWARK_NAMESPACE): EntityRef {
  if (typeof action !== 'string') return action;
  if (action.includes('::')) return parseEntityRef(action, namespace);
  return { type: `${namespace}::Action`, id: action };
}

/** Display form of a reference, without the Bulwark namespace for brevity. */
export function formatRef(ref: EntityRef, namespace = BULWARK_NAMESPACE): string {
  const prefix = `${namespace}::`;
  const type = ref.type.startsWith(prefix) ? ref.type.slice(prefix.length) : ref.type;
  return `${type}::${JSON.stringify(ref.id)}`;
}

export function entityKey(entity: EntityJson): string {
  return uidKey(refOf(entity.uid));
}
