/**
 * What every component writes to the audit log. The `audit` component owns the record schema and the log
 * itself; components only see this sink, which batches, retries and spools (see the audit client).
 * Never put secrets in an event: the audit service refuses them, and sensitive fields are masked.
 */

export type AuditOutcome = 'success' | 'failure' | 'unknown';

export interface AuditActor {
  /** `user`, `service` (SPIFFE ID in `id`), `client` (OAuth client id), or `system`. */
  type: 'user' | 'service' | 'client' | 'system';
  id: string;
  /** Display name, when known. */
  name?: string;
}

export interface AuditEvent {
  /** Unique id (UUID); the client fills it in so that retries are idempotent. */
  id?: string;
  /** ISO 8601 time of the event; the client fills it in. */
  time?: string;
  actor: AuditActor;
  /** Dotted verb, e.g. `identity.login`, `policy.decision`, `keys.decrypt`. */
  action: string;
  target?: { type: string; id: string };
  outcome: AuditOutcome;
  reason?: string;
  source?: { component: string; ip?: string };
  requestId?: string;
  traceId?: string;
  /** Retention category (e.g. `security`, `financial`, `health`). */
  category?: string;
  details?: Record<string, unknown>;
}

/** Where components send audit events. `record` never throws and never blocks the request path. */
export interface AuditSink {
  record(event: AuditEvent): void;
  /** Resolves once every event recorded so far is acknowledged by the audit service (or spooled). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** An in-memory sink for tests: keeps every event it is given. */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  record(event: AuditEvent): void {
    this.events.push(event);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
