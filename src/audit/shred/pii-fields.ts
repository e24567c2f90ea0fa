/**
 * Where personal data sits in an audit record: the slots the writer seals (by field name and actor type)
 * and the sealed values a reader finds (anywhere, whatever the configuration was when they were written).
 */
import type { AuditRecord } from '../record/record-schema.ts';
import { normaliseKey } from '../record/sensitive-fields.ts';
import { isSealedPii, type SubjectRole } from './sealed-pii.ts';

/** One value to seal: whose key, which path (bound as associated data), and how to put the result back. */
export interface Slot {
  recordId: string;
  subject: string;
  role: SubjectRole;
  path: (string | number)[];
  value: unknown;
  set(sealed: string): void;
}

/** A record as read back (any shape with these fields); reveal returns copies, the input is not changed. */
export interface ShreddableRecord {
  id: string;
  actor: { type: string; id: string; name?: string };
  target?: { type: string; id: string };
  source?: { component: string; ip?: string };
  details?: Record<string, unknown>;
}

/**
 * The personal-data slots of a freshly normalised record: `actor.name` and `source.ip` of a user actor
 * (the actor's key), and values in `details` under `encryptKeys` (the target's key when the target type is
 * in `targetTypes`, else the actor's).
 */
export function personalDataSlots(
  record: AuditRecord,
  encryptKeys: ReadonlySet<string>,
  targetTypes: ReadonlySet<string>,
): Slot[] {
  const slots: Slot[] = [];
  const actor = record.actor;
  if (actor.type === 'user') {
    // The user's own name and address, under the user's key.
    const own = (path: string[], value: string, set: (sealed: string) => void) =>
      slots.push({ recordId: record.id, subject: actor.id, role: 'a', path, value, set });
    if (actor.name !== undefined) own(['actor', 'name'], actor.name, (v) => (actor.name = v));
    const source = record.source;
    if (source?.ip !== undefined) own(['source', 'ip'], source.ip, (v) => (source.ip = v));
  }
  if (record.details) {
    const aboutTarget = record.target !== undefined && targetTypes.has(record.target.type);
    const subject = aboutTarget ? record.target!.id : actor.id;
    const role: SubjectRole = aboutTarget ? 't' : 'a';
    const walk = (node: unknown, path: (string | number)[]) => {
      if (node === null || typeof node !== 'object') return;
      const entries: [string | number, unknown][] = Array.isArray(node)
        ? node.map((v, i) => [i, v])
        : Object.entries(node as Record<string, unknown>);
      for (const [k, v] of entries) {
        const at = [...path, k];
        if (typeof k === 'string' && v !== null && encryptKeys.has(normaliseKey(k))) {
          slots.push({
            recordId: record.id,
            subject,
            role,
            path: at,
            value: v,
            set: (sealed) => {
              (node as Record<string, unknown>)[k] = sealed;
            },
          });
        } else walk(v, at);
      }
    };
    walk(record.details, ['details']);
  }
  return slots;
}

/** The value at a path of a parsed record, or undefined. */
export function valueAt(node: unknown, path: readonly (string | number)[]): unknown {
  let at = node;
  for (const k of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string | number, unknown>)[k];
  }
  return at;
}

/** Every sealed string of a record read back: `actor.name`, `source.ip` and anywhere in `details`. */
export function sealedValues(
  record: ShreddableRecord,
): { path: (string | number)[]; value: string; set(v: unknown): void }[] {
  const out: { path: (string | number)[]; value: string; set(v: unknown): void }[] = [];
  const { actor, source } = record;
  if (isSealedPii(actor.name))
    out.push({ path: ['actor', 'name'], value: actor.name, set: (v) => (actor.name = String(v)) });
  if (source && isSealedPii(source.ip))
    out.push({ path: ['source', 'ip'], value: source.ip, set: (v) => (source.ip = String(v)) });
  const walk = (node: unknown, path: (string | number)[]) => {
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string | number, unknown>;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    for (const k of keys) {
      const v = obj[k];
      if (isSealedPii(v)) out.push({ path: [...path, k], value: v, set: (nv) => (obj[k] = nv) });
      else walk(v, [...path, k]);
    }
  };
  walk(record.details, ['details']);
  return out;
}
