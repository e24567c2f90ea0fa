/**
 * Export formats for SIEMs. Each exported event carries its leaf index and the record itself, so a copy
 * kept in a SIEM can be re-hashed (RFC 8785 canonical JSON) and checked against the log with an inclusion
 * proof.
 */
import { isIP } from 'node:net';
import { VERSION } from '../../core/index.ts';
import type { AuditRecord } from '../record/record-schema.ts';

/** A stored record as read back from the log (its canonical body, parsed): the record and its index. */
export type LoggedRecord = AuditRecord & { index: number };

/**
 * The source address when it is one: a user's is stored sealed (`bulwark:pii1:...`) or `[erased]` under
 * crypto-shredding, and ECS `source.ip` (type ip) or CEF `src` holding that made the SIEM refuse the whole
 * event. The record itself, with the sealed value, is in every format all the same.
 */
function addressOf(r: LoggedRecord): string | undefined {
  const ip = r.source?.ip;
  return ip !== undefined && isIP(ip) !== 0 ? ip : undefined;
}

/** Elastic Common Schema 8.x document (one JSON line). */
export function toEcs(r: LoggedRecord, origin: string): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    '@timestamp': r.time,
    ecs: { version: '8.11.0' },
    event: {
      id: r.id,
      kind: 'event',
      action: r.action,
      outcome: r.outcome,
      sequence: r.index,
      dataset: 'bulwark.audit',
      ...(r.reason ? { reason: r.reason } : {}),
    },
    labels: { audit_category: r.category, audit_log: origin, audit_leaf_index: String(r.index) },
    bulwark: { audit: { index: r.index, log: origin, record: r } },
  };
  if (r.actor.type === 'user')
    doc['user'] = { id: r.actor.id, ...(r.actor.name ? { name: r.actor.name } : {}) };
  else doc['client'] = { user: { id: r.actor.id } };
  if (r.source) {
    doc['service'] = { name: r.source.component };
    if (addressOf(r)) doc['source'] = { ip: r.source.ip };
  }
  if (r.traceId) doc['trace'] = { id: r.traceId };
  if (r.requestId) doc['http'] = { request: { id: r.requestId } };
  return doc;
}

const cefHeader = (v: string) =>
  v
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]/g, ' ');
// CEF extension values: `\` and `=` escaped, line breaks encoded as `\n` / `\r` (a lone CR too: syslog
// inputs split on it, and the rest of the value would arrive as an event of its own).
// Any other control character (NUL, ESC, vertical tab, form feed, DEL, C1 with NEL) and U+2028 / U+2029, which
// `reason`, `target` and `actor.name` may hold, becomes U+FFFD: CEF has no escape for them, a NUL cuts the
// line short in C-based inputs, and NEL, VT, FF and the separators are line breaks to many splitters; bidi
// overrides and isolates (U+202A-U+202E, U+2066-U+2069) make a SIEM show a field other than it is. The
// record itself stays exact in `cs1` (JSON escapes them, see `recordJson`).
const CEF_UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const cefValue = (v: string) =>
  v
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(CEF_UNSAFE, '\uFFFD');

/**
 * The record as JSON with nothing `CEF_UNSAFE` matches left raw (cefValue would replace it, and the
 * copy would no longer re-hash): JSON.stringify escapes C0 controls but not DEL, C1 (NEL), U+2028, U+2029
 * or bidi controls; as `\\uXXXX` escapes they parse back to the same value.
 */
const recordJson = (r: LoggedRecord) =>
  JSON.stringify(r).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** ArcSight Common Event Format (CEF:0) line. */
export function toCef(r: LoggedRecord): string {
  const severity = r.outcome === 'failure' ? 5 : 3;
  const ext: [string, string][] = [
    ['rt', String(Date.parse(r.time))],
    ['externalId', r.id],
    ['suser', r.actor.id],
    ['outcome', r.outcome],
    ['cat', r.category],
    ['cn1Label', 'leafIndex'],
    ['cn1', String(r.index)],
  ];
  const ip = addressOf(r);
  if (ip) ext.push(['src', ip]);
  if (r.source?.component) ext.push(['dvchost', r.source.component]);
  if (r.target) ext.push(['duid', `${r.target.type}:${r.target.id}`]);
  if (r.reason) ext.push(['reason', r.reason]);
  ext.push(['cs1Label', 'record'], ['cs1', recordJson(r)]);
  const head = ['CEF:0', 'Bulwark', 'audit', VERSION, r.action, r.action, String(severity)]
    .map(cefHeader)
    .join('|');
  return `${head}|${ext.map(([k, v]) => `${k}=${cefValue(v)}`).join(' ')}`;
}

const sdValue = (v: string) => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
/** RFC 5424 §6.2.1: facility 13 (log audit); severity notice (5) or warning (4) for failures. */
const FACILITY_LOG_AUDIT = 13;
/** RFC 5612 documentation PEN for the SD-ID. */
const SD_ID = 'bulwark@32473';

/** RFC 5424 syslog message with the index in structured data and the record as JSON in MSG. */
export function toSyslog(r: LoggedRecord, hostname: string): string {
  const pri = FACILITY_LOG_AUDIT * 8 + (r.outcome === 'failure' ? 4 : 5);
  const host = hostname.replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';
  const sd = `[${SD_ID} index="${r.index}" id="${sdValue(r.id)}" outcome="${sdValue(r.outcome)}" category="${sdValue(r.category)}"]`;
  // RFC 5424 §6: VERSION 1, APP-NAME bulwark-audit, MSGID the action (printable, <= 32 chars).
  const msgid = r.action.slice(0, 32);
  return `<${pri}>1 ${r.time} ${host} bulwark-audit - ${msgid} ${sd} \uFEFF${recordJson(r)}`;
}
