/**
 * Masking rules per role. A policy names sensitive fields (by object key, at any depth) with their mask,
 * and says per role which fields that role sees in the clear. Least privilege: a field is masked unless
 * one of the caller's roles is listed as revealing it; an unknown role reveals nothing.
 *
 * @example
 * const policy = compileMaskingPolicy({
 *   fields: { ssn: 'ssn', cardNumber: 'card', email: 'email' },
 *   reveal: { support: ['email'], compliance: ['ssn', 'email'] },
 * });
 * applyMasking({ ssn: '123-45-6789', email: 'a@b.co' }, policy, ['support']);
 * // { ssn: '***-**-6789', email: 'a@b.co' }
 */
import { MASK_KINDS, type MaskKind, maskValue } from './masks.ts';

export interface MaskingRules {
  /** Field name (compared case-insensitively, ignoring `-` and `_`) -> mask. */
  fields: Record<string, MaskKind>;
  /** Role -> field names that role sees in the clear. */
  reveal?: Record<string, readonly string[]>;
}

export interface MaskingPolicy {
  readonly fields: ReadonlyMap<string, MaskKind>;
  readonly reveal: ReadonlyMap<string, ReadonlySet<string>>;
}

const normalise = (key: string) => key.toLowerCase().replace(/[-_]/g, '');
const MAX_DEPTH = 32;

export function compileMaskingPolicy(rules: MaskingRules): MaskingPolicy {
  const fields = new Map<string, MaskKind>();
  for (const [field, kind] of Object.entries(rules.fields)) {
    if (!MASK_KINDS.includes(kind))
      throw new TypeError(`unknown mask ${JSON.stringify(kind)} for field ${field}`);
    fields.set(normalise(field), kind);
  }
  const reveal = new Map<string, Set<string>>();
  for (const [role, names] of Object.entries(rules.reveal ?? {})) {
    reveal.set(role, new Set(names.map(normalise)));
  }
  return { fields, reveal };
}

/** Which fields the given roles see in the clear. */
export function revealedFields(policy: MaskingPolicy, roles: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const role of roles) for (const field of policy.reveal.get(role) ?? []) out.add(field);
  return out;
}

/** A deep copy of `value` with every sensitive field the roles may not see masked. Never mutates its input. */
export function applyMasking(value: unknown, policy: MaskingPolicy, roles: readonly string[]): unknown {
  const revealed = revealedFields(policy, roles);
  const walk = (node: unknown, depth: number): unknown => {
    if (depth > MAX_DEPTH || node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      const name = normalise(key);
      const kind = policy.fields.get(name);
      if (kind && !revealed.has(name)) {
        out[key] = Array.isArray(child) ? child.map((c) => maskValue(kind, c)) : maskValue(kind, child);
      } else {
        out[key] = walk(child, depth + 1);
      }
    }
    return out;
  };
  return walk(value, 0);
}
