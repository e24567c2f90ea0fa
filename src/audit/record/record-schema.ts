/**
 * The audit record schema: NIST SP 800-53 AU-3 (what, when, where, source, outcome, identity) and the OWASP
 * Logging Cheat Sheet's "which events / event attributes". `normaliseRecord` validates one incoming event
 * and returns the form that is hashed into the log; any violation throws a 400 that names the field.
 */
import { isIP } from 'node:net';
import { uuidV7Generator } from '../../core/audit-client/uuid-v7.ts';
import type { AuditEvent } from '../../core/index.ts';
import { auditError } from '../errors.ts';
import {
  protectDetails,
  refuseSecretValue,
  type SensitivePolicy,
  UNPAIRED_SURROGATE,
} from './sensitive-fields.ts';

/** A record as stored (before the log adds `index`). */
export interface AuditRecord {
  id: string;
  time: string;
  actor: { type: 'user' | 'service' | 'client' | 'system'; id: string; name?: string };
  action: string;
  target?: { type: string; id: string };
  outcome: 'success' | 'failure' | 'unknown';
  reason?: string;
  source?: { component: string; ip?: string };
  requestId?: string;
  traceId?: string;
  category: string;
  details?: Record<string, unknown>;
  /**
   * The SPIFFE ID of the workload that appended the record, set by audit from the caller's verified SVID
   * (never from the body): every other field is what that workload says; this one is who said it.
   */
  submitter?: string;
}

const TOP_KEYS = new Set([
  'id',
  'time',
  'actor',
  'action',
  'target',
  'outcome',
  'reason',
  'source',
  'requestId',
  'traceId',
  'category',
  'details',
]);
const ACTOR_TYPES = new Set(['user', 'service', 'client', 'system']);
const OUTCOMES = new Set(['success', 'failure', 'unknown']);
/** A record id: what clients may choose (and what routes taking an id accept). */
export const RECORD_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const ACTION = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+){0,7}$/;
const CATEGORY = /^[a-z][a-z0-9_-]{0,63}$/;
const TOKEN = /^[A-Za-z0-9._:/@-]{1,128}$/;
// actor.id is also a search term in a text column, and PostgreSQL text cannot hold a NUL: a 500 there made
// clients retry and spool the whole batch for ever. Refused on both engines, so they agree.
const NO_NUL = /^[^\0]*$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9.-]+(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$/;
const MAX_DETAILS_CHARS = 16384;
/** Ids for records sent without one: time-ordered (UUIDv7), like the audit client's. */
const serverId = uuidV7Generator();

export interface NormaliseOptions {
  policy: SensitivePolicy;
  now: number;
  maxClockSkewMs: number;
  /** The verified SPIFFE ID of the caller appending the batch, when audit serves mTLS. */
  submitter?: string;
}

const DAY_MS = 86_400_000;

/**
 * Days a category is kept under `retentionDays` (the `default` entry, else one year). Own entries only: a
 * category may be named `constructor`, and Object.prototype's member of that name is no number of days.
 */
export function retentionDaysOf(retentionDays: Readonly<Record<string, number>>, category: string): number {
  const own = (key: string) => (Object.hasOwn(retentionDays, key) ? retentionDays[key] : undefined);
  return own(category) ?? own('default') ?? 365;
}

/** Whether a record of `category` dated `timeMs` is past its retention at `now` (what pruning removes). */
export function expired(
  retentionDays: Readonly<Record<string, number>>,
  category: string,
  timeMs: number,
  now: number,
): boolean {
  return timeMs + retentionDaysOf(retentionDays, category) * DAY_MS <= now;
}

function fail(field: string, message: string): never {
  throw auditError('audit_schema', `${field} ${message}`, { details: { field } });
}

function text(v: unknown, field: string, max: number, pattern?: RegExp): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    fail(field, `must be a string of 1 to ${max} characters`);
  if (pattern && !pattern.test(v)) fail(field, `has an invalid format`);
  if (!v.isWellFormed()) fail(field, UNPAIRED_SURROGATE);
  refuseSecretValue(v, field);
  return v;
}

/** Checks that `v` is a plain object, and with `keys` that it has no other key. */
function object(v: unknown, field: string, keys?: ReadonlySet<string>): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(field, 'must be an object');
  if (keys) for (const k in v) if (!keys.has(k)) fail(`${field}.${k}`, 'is not a known field');
  return v as Record<string, unknown>;
}
const ACTOR_KEYS = new Set(['type', 'id', 'name']);
const TARGET_KEYS = new Set(['type', 'id']);
const SOURCE_KEYS = new Set(['component', 'ip']);

/**
 * Validates and normalises one event. `field` prefixes error paths (e.g. `records[3]`).
 *
 * @example
 * const rec = normaliseRecord(event, 'records[0]', { policy, now: Date.now(), maxClockSkewMs: 300000 });
 */
export function normaliseRecord(input: unknown, field: string, options: NormaliseOptions): AuditRecord {
  const e = object(input, field, TOP_KEYS) as Partial<AuditEvent> & Record<string, unknown>;
  const id = e.id === undefined ? serverId() : text(e.id, `${field}.id`, 128, RECORD_ID);
  let time: string;
  if (e.time === undefined) time = new Date(options.now).toISOString();
  else {
    const t = text(e.time, `${field}.time`, 40, ISO_TIME);
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) fail(`${field}.time`, 'is not a valid date');
    if (ms > options.now + options.maxClockSkewMs) fail(`${field}.time`, 'is in the future');
    time = new Date(ms).toISOString();
    // An offset can carry year 0000 back into 1 BC (-000001-12-31...): no syslog or ECS timestamp, and
    // outside what a time search can name (years 0000-9999 in UTC).
    if (time.startsWith('-')) fail(`${field}.time`, 'is before year 0000 in UTC');
  }
  const a = object(e.actor, `${field}.actor`, ACTOR_KEYS);
  if (typeof a['type'] !== 'string' || !ACTOR_TYPES.has(a['type']))
    fail(`${field}.actor.type`, 'must be user, service, client or system');
  const actor: AuditRecord['actor'] = {
    type: a['type'] as AuditRecord['actor']['type'],
    id: text(a['id'], `${field}.actor.id`, 256, NO_NUL),
  };
  // A service is named by its SPIFFE ID (SPIFFE ID spec §2), so audit trails join up with mTLS identities.
  if (actor.type === 'service' && !SPIFFE_ID.test(actor.id))
    fail(`${field}.actor.id`, 'must be a SPIFFE ID for a service');
  if (a['name'] !== undefined) actor.name = text(a['name'], `${field}.actor.name`, 256);
  const record: AuditRecord = {
    id,
    time,
    actor,
    action: text(e.action, `${field}.action`, 128, ACTION),
    outcome: 'unknown',
    category: e.category === undefined ? 'default' : text(e.category, `${field}.category`, 64, CATEGORY),
  };
  if (typeof e.outcome !== 'string' || !OUTCOMES.has(e.outcome))
    fail(`${field}.outcome`, 'must be success, failure or unknown');
  record.outcome = e.outcome;
  if (e.target !== undefined) {
    const t = object(e.target, `${field}.target`, TARGET_KEYS);
    record.target = {
      type: text(t['type'], `${field}.target.type`, 64),
      id: text(t['id'], `${field}.target.id`, 512),
    };
  }
  if (e.reason !== undefined) record.reason = text(e.reason, `${field}.reason`, 1024);
  if (e.source !== undefined) {
    const s = object(e.source, `${field}.source`, SOURCE_KEYS);
    record.source = { component: text(s['component'], `${field}.source.component`, 64, TOKEN) };
    if (s['ip'] !== undefined) {
      if (typeof s['ip'] !== 'string' || isIP(s['ip']) === 0)
        fail(`${field}.source.ip`, 'must be an IPv4 or IPv6 address');
      record.source.ip = s['ip'];
    }
  }
  if (e.requestId !== undefined) record.requestId = text(e.requestId, `${field}.requestId`, 128, TOKEN);
  if (e.traceId !== undefined) record.traceId = text(e.traceId, `${field}.traceId`, 128, TOKEN);
  if (e.details !== undefined) {
    object(e.details, `${field}.details`);
    const details = protectDetails(e.details, options.policy, `${field}.details`) as Record<string, unknown>;
    if (JSON.stringify(details).length > MAX_DETAILS_CHARS)
      fail(`${field}.details`, `is larger than ${MAX_DETAILS_CHARS} characters`);
    record.details = details;
  }
  if (options.submitter !== undefined) record.submitter = options.submitter;
  return record;
}
