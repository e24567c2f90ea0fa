/**
 * Push to a Splunk HTTP Event Collector with indexer acknowledgement: events are sent on a channel, and
 * only counted as delivered once `/services/collector/ack` reports their ackId as true.
 */
import { randomUUID } from 'node:crypto';
import { type Dispatcher, request } from 'undici';
import { auditError } from '../errors.ts';
import { type LoggedRecord, toEcs } from './event-formats.ts';

export interface HecOptions {
  /** Base URL of the collector, e.g. https://splunk.example:8088 */
  url: string;
  token: string;
  origin: string;
  dispatcher?: Dispatcher;
  /** How long to wait for the indexer's acknowledgement. */
  ackTimeoutMs?: number;
  pollMs?: number;
  batchSize?: number;
}

async function post(
  url: string,
  token: string,
  channel: string,
  body: string,
  dispatcher?: Dispatcher,
): Promise<unknown> {
  const res = await request(url, {
    method: 'POST',
    body,
    headers: {
      authorization: `Splunk ${token}`,
      'x-splunk-request-channel': channel,
      'content-type': 'application/json',
    },
    ...(dispatcher ? { dispatcher } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw auditError('audit_export_failed', `HEC answered ${res.statusCode}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw auditError('audit_export_failed', 'HEC answered 200 with a body that is not JSON');
  }
}

/** Sends the records and resolves with how many were acknowledged; throws if any ack is missing. */
export async function pushToHec(
  records: readonly LoggedRecord[],
  o: HecOptions,
): Promise<{ sent: number; acknowledged: number }> {
  const channel = randomUUID();
  const base = o.url.replace(/\/$/, '');
  const pending = new Set<number>();
  const size = o.batchSize ?? 500;
  for (let i = 0; i < records.length; i += size) {
    const body = records
      .slice(i, i + size)
      .map((r) =>
        JSON.stringify({
          time: Date.parse(r.time) / 1000,
          source: 'bulwark:audit',
          sourcetype: 'bulwark:audit',
          event: toEcs(r, o.origin),
        }),
      )
      .join('\n');
    const res = (await post(`${base}/services/collector/event`, o.token, channel, body, o.dispatcher)) as {
      code?: number;
      ackId?: number;
    };
    if (res.code !== 0 || typeof res.ackId !== 'number')
      throw auditError('audit_export_failed', 'HEC did not return an ackId');
    // One ack must stand for one batch: an id handed out twice (a collector restarted mid-push) would
    // count a lost batch as delivered.
    if (pending.has(res.ackId))
      throw auditError('audit_export_failed', `HEC returned ackId ${res.ackId} for two batches`);
    pending.add(res.ackId);
  }
  const deadline = Date.now() + (o.ackTimeoutMs ?? 30000);
  while (pending.size > 0) {
    const res = (await post(
      `${base}/services/collector/ack?channel=${channel}`,
      o.token,
      channel,
      JSON.stringify({ acks: [...pending] }),
      o.dispatcher,
    )) as {
      acks?: Record<string, unknown>;
    };
    // Only a JSON `true` acknowledges (a string "false" is truthy).
    for (const [id, ok] of Object.entries(res.acks ?? {})) if (ok === true) pending.delete(Number(id));
    if (pending.size === 0) break;
    if (Date.now() > deadline)
      throw auditError('audit_export_failed', `${pending.size} HEC batches were not acknowledged in time`);
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
  return { sent: records.length, acknowledged: records.length };
}
