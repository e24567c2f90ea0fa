/**
 * The audit client every component writes through: `record()` never blocks or throws; events are batched
 * and POSTed to the audit service, retried with exponential backoff and jitter, and spooled to disk when the
 * service stays unreachable. The spool is drained when the service answers again. Every event carries an
 * id from the start, so a batch sent twice (timeout after commit, crash during a drain) is stored once.
 */
import { Agent, type Dispatcher, request } from 'undici';
import type { AuditEvent, AuditSink } from '../audit/types.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { Logger } from '../log/index.ts';
import { Spool } from './spool.ts';
import { uuidV7Generator } from './uuid-v7.ts';

export interface AuditClientOptions {
  /** Base URL of the audit service, e.g. https://127.0.0.1:7301 */
  url: string;
  /** PEM CA the audit service's certificate chains to. */
  ca?: string;
  /** Spool directory, normally `<home>/spool`. */
  spoolDirectory: string;
  /** Name of this client's spool file (the component's name). */
  name: string;
  batchSize?: number;
  flushIntervalMs?: number;
  /** Attempts per batch before it is spooled. */
  attempts?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
  clock?: Clock;
  newId?: () => string;
  logger?: Logger;
  /**
   * The connection pool to use; a function is asked before each request (a component whose mTLS
   * identity exists only once it has started hands the audit client its SVID that way). When it gives
   * nothing, the client's own pool (trusting `ca`) is used.
   */
  dispatcher?: Dispatcher | (() => Dispatcher | undefined);
}

export interface AuditClient extends AuditSink {
  /** Re-sends spooled events now; resolves true when the spool is empty. */
  drain(): Promise<boolean>;
  readonly stats: { sent: number; spooled: number; dropped: number; drained: number };
}

class Unreachable extends Error {}

/**
 * Most batches waiting for delivery in memory. Behind a slow or unreachable service each batch takes its
 * attempts (up to `attempts` request timeouts); later batches go straight to the spool instead of queueing
 * without bound.
 */
const MAX_QUEUED_BATCHES = 8;

/** Codes that mean "this record will never be accepted"; anything else is worth retrying. */
const REFUSED = new Set(['audit_schema', 'audit_secret_refused', 'audit_expired', 'audit_id_conflict']);

interface Problem {
  code?: string;
  field?: string;
  id?: string;
  /** Schema violations of a core `invalid_request` (RFC 9457 §3.2 extension member): JSON Pointer + text. */
  errors?: { path?: string }[];
}

function parseProblem(text: string): Problem {
  try {
    return JSON.parse(text) as Problem;
  } catch {
    return {};
  }
}

/**
 * Whether a 400 says "more records than the service takes in one request" (its `maxBatch`, which may be
 * below our batchSize). The ingest body schema checks only the `records` array (the records themselves are
 * refused as `audit_schema`), so an `invalid_request` whose violation points at `/records` is that limit.
 * Decided on the code and the pointer, never on the message text.
 */
function tooManyRecords(status: number, problem: Problem): boolean {
  return (
    status === 400 &&
    problem.code === 'invalid_request' &&
    Array.isArray(problem.errors) &&
    problem.errors.some((e) => e?.path === '/records')
  );
}

/**
 * @example
 * const audit = createAuditClient({ url: 'https://127.0.0.1:7301', ca, spoolDirectory: join(home, 'spool'), name: 'identity' });
 * audit.record({ actor: { type: 'user', id: 'u1' }, action: 'identity.login', outcome: 'success' });
 * await audit.flush();
 */
export function createAuditClient(options: AuditClientOptions): AuditClient {
  const o = {
    batchSize: 500,
    flushIntervalMs: 100,
    attempts: 4,
    backoffMs: 100,
    maxBackoffMs: 10_000,
    requestTimeoutMs: 10_000,
    ...options,
  };
  const clock = o.clock ?? systemClock;
  const newId = o.newId ?? uuidV7Generator(clock);
  const spool = new Spool(o.spoolDirectory, o.name);
  const own =
    o.dispatcher === undefined || typeof o.dispatcher === 'function'
      ? new Agent({
          connect: { ...(o.ca ? { ca: o.ca } : {}), timeout: o.requestTimeoutMs },
          headersTimeout: o.requestTimeoutMs,
          bodyTimeout: o.requestTimeoutMs,
        })
      : undefined;
  const given = o.dispatcher;
  const dispatcherNow = (): Dispatcher =>
    (typeof given === 'function' ? given() : given) ?? (own as Dispatcher);
  const endpoint = `${o.url.replace(/\/$/, '')}/audit/v1/records`;
  const stats = { sent: 0, spooled: 0, dropped: 0, drained: 0 };
  let buffer: AuditEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  /** Batches handed to `deliver` and not yet delivered or spooled. */
  let queued = 0;
  let drainTimer: NodeJS.Timeout | undefined;
  let drainDelay = o.backoffMs;
  let draining: Promise<boolean> | undefined;
  let closed = false;
  /** Most records per request: batchSize until the service says its `maxBatch` is lower. */
  let recordLimit = o.batchSize;

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const backoff = (attempt: number) =>
    Math.min(o.maxBackoffMs, o.backoffMs * 2 ** attempt) * (0.5 + Math.random() / 2);

  /** One POST. Resolves when the service acknowledged; drops events it rejects as invalid. */
  async function post(events: AuditEvent[]): Promise<void> {
    let batch = events;
    while (batch.length > 0) {
      if (batch.length > recordLimit) {
        // The service told us its per-request record limit already: do not send what it will refuse.
        await post(batch.slice(0, recordLimit));
        batch = batch.slice(recordLimit);
        continue;
      }
      let res: Dispatcher.ResponseData;
      let text: string;
      try {
        res = await request(endpoint, {
          method: 'POST',
          dispatcher: dispatcherNow(),
          body: JSON.stringify({ records: batch }),
          headers: { 'content-type': 'application/json' },
        });
        // Reading the answer fails like connecting does (reset, body timeout): the batch may or may not
        // be stored, so it is retried (ids keep that idempotent), never lost as an unexpected error.
        text = await res.body.text();
      } catch (err) {
        throw new Unreachable((err as Error).message);
      }
      if (res.statusCode === 200) {
        stats.sent += batch.length;
        return;
      }
      const problem = parseProblem(text);
      const tooMany = tooManyRecords(res.statusCode, problem);
      // Any other 400 judges the request body as a whole, not one record (the service's JSON parser refuses
      // an event whose details hold a `__proto__` or `constructor.prototype` key): the same bytes get the
      // same answer, so retrying would spool the batch and then block every drain of the spool for good.
      const unreadable = res.statusCode === 400 && !tooMany && !REFUSED.has(problem.code ?? '');
      if ((res.statusCode === 413 || tooMany || unreadable) && batch.length > 1) {
        // Too large for the service's body limit or record limit, or refused as a whole: send it in halves
        // (live and when draining the spool alike, since drains post through here too), which isolates
        // the one event the service will never take. Re-sending the same batch would be refused forever
        // and the events spooled for good.
        const half = Math.ceil(batch.length / 2);
        if (tooMany) recordLimit = Math.min(recordLimit, half);
        await post(batch.slice(0, half));
        batch = batch.slice(half);
        continue;
      }
      if (res.statusCode === 413 || unreadable || REFUSED.has(problem.code ?? '')) {
        // A record the log refuses will never be accepted: drop it (counted, not logged: it may hold PII).
        const at = /^records\[(\d+)\]/.exec(problem.field ?? '');
        const bad = at ? Number(at[1]) : batch.findIndex((e) => e.id === problem.id);
        o.logger?.warn(
          { code: problem.code ?? 'request_too_large', field: problem.field },
          'audit event refused by the audit service; dropped',
        );
        stats.dropped += bad >= 0 ? 1 : batch.length;
        batch = bad >= 0 ? batch.filter((_, i) => i !== bad) : [];
        continue;
      }
      // Anything else (5xx, a storage conflict, an unexpected status) is retried, then spooled.
      throw new Unreachable(`audit service answered ${res.statusCode}`);
    }
  }

  async function deliver(events: AuditEvent[]): Promise<void> {
    for (let attempt = 0; attempt < o.attempts; attempt++) {
      try {
        await post(events);
        scheduleDrain(0);
        return;
      } catch (err) {
        if (!(err instanceof Unreachable)) throw err;
        if (attempt + 1 < o.attempts) await sleep(backoff(attempt));
      }
    }
    keep(events);
  }

  /** Appends to the spool (fsync); the drain re-sends it once the service answers. */
  function keep(events: AuditEvent[]): void {
    spool.append(events);
    stats.spooled += events.length;
    scheduleDrain(drainDelay);
  }

  function scheduleDrain(delay: number): void {
    if (closed || drainTimer || !spool.pending()) return;
    drainTimer = setTimeout(() => {
      drainTimer = undefined;
      void drain().then((empty) => {
        drainDelay = empty ? o.backoffMs : Math.min(o.maxBackoffMs, drainDelay * 2);
        if (!empty) scheduleDrain(drainDelay);
      });
    }, delay);
    drainTimer.unref();
  }

  function drain(): Promise<boolean> {
    draining ??= (async () => {
      for (const file of spool.claim()) {
        const events = spool.read(file);
        try {
          for (let i = 0; i < events.length; i += o.batchSize) await post(events.slice(i, i + o.batchSize));
        } catch (err) {
          if (err instanceof Unreachable) return false;
          throw err;
        }
        spool.remove(file);
        stats.drained += events.length;
      }
      return true;
    })().finally(() => {
      draining = undefined;
    });
    return draining;
  }

  function flushNow(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batches: AuditEvent[][] = [];
    while (buffer.length > 0) batches.push(buffer.splice(0, o.batchSize));
    buffer = [];
    const failed = (err: unknown) => o.logger?.error({ err }, 'audit delivery failed');
    for (const b of batches) {
      if (queued >= MAX_QUEUED_BATCHES) {
        // Spooled now, beside the queue (not behind it), so memory stays bounded while the service lags.
        const kept = Promise.resolve()
          .then(() => keep(b))
          .catch(failed);
        chain = Promise.all([chain, kept]).then(() => undefined);
        continue;
      }
      queued++;
      chain = chain
        .then(() => deliver(b))
        .catch(failed)
        .finally(() => {
          queued--;
        });
    }
    return chain;
  }

  scheduleDrain(0);

  return {
    stats,
    record(event: AuditEvent): void {
      if (closed) return;
      buffer.push({
        ...event,
        id: event.id ?? newId(),
        time: event.time ?? new Date(clock.now()).toISOString(),
      });
      if (buffer.length >= o.batchSize) void flushNow();
      else timer ??= setTimeout(() => void flushNow(), o.flushIntervalMs);
    },
    flush: () => flushNow(),
    drain,
    async close() {
      await flushNow();
      closed = true;
      if (drainTimer) clearTimeout(drainTimer);
      await draining;
      await own?.close();
    },
  };
}
