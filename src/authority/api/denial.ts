/**
 * Every refusal by the authority is counted by reason and audited with the caller as far as it is known.
 * Refusals need no credentials to provoke (a made-up join token will do), so audit records are budgeted
 * per caller and source address: past `perMinute` in a minute, the rest of that minute's refusals of the
 * pair are counted into one `authority.denials.suppressed` record instead of one record each. A refusal
 * of a known workload (a revoked SVID renewing) has its own budget, so junk from the same address cannot
 * hide it; pairs beyond the first 10,000 of a minute are summed into one more record.
 */
import type { FastifyRequest } from 'fastify';
import { type AuditSink, BulwarkError, type Clock } from '../../core/index.ts';
import type { AuthorityContext } from './context.ts';

/** Counts and audits the refusal of `action`, then throws `err` on. */
export function denied(
  ctx: AuthorityContext,
  req: FastifyRequest,
  action: string,
  actor: string,
  err: unknown,
): never {
  const code = err instanceof BulwarkError ? err.code : 'internal';
  ctx.metrics.denials.inc({ reason: code });
  if (ctx.denials.admit(actor, req.ip)) {
    ctx.audit.record({
      actor: { type: actor.startsWith('spiffe://') ? 'service' : 'system', id: actor },
      action,
      outcome: 'failure',
      reason: code,
      source: { component: 'authority', ip: req.ip },
      requestId: req.id,
    });
  }
  throw err;
}

export class DenialBudget {
  readonly #audit: AuditSink;
  readonly #clock: Clock;
  readonly #perMinute: number;
  /** Refusals seen per caller and address in the current minute (bounded; see `#overflow`). */
  #seen = new Map<string, { actor: string; ip: string; count: number }>();
  /** Refusals of the minute beyond the first 10,000 caller-address pairs: counted, audited as one. */
  #overflow = 0;
  #minute = -1;

  constructor(audit: AuditSink, clock: Clock, perMinute = 60) {
    this.#audit = audit;
    this.#clock = clock;
    this.#perMinute = perMinute;
  }

  /** Whether this refusal gets its own audit record. */
  admit(actor: string, ip: string): boolean {
    this.tick();
    const key = `${actor}\u0000${ip}`;
    const entry = this.#seen.get(key);
    if (entry) return ++entry.count <= this.#perMinute;
    if (this.#seen.size >= 10_000) {
      this.#overflow++;
      return false;
    }
    this.#seen.set(key, { actor, ip, count: 1 });
    return true;
  }

  /** Writes the summary of the minute that ended (and of the current one, at shutdown). */
  flush(): void {
    for (const { actor, ip, count } of this.#seen.values()) {
      if (count <= this.#perMinute) continue;
      this.#audit.record({
        actor: { type: actor.startsWith('spiffe://') ? 'service' : 'system', id: actor },
        action: 'authority.denials.suppressed',
        outcome: 'failure',
        reason: 'too many refusals from one caller and address: counted, not audited one by one',
        source: { component: 'authority', ip },
        details: { refused: count, audited: this.#perMinute },
      });
    }
    if (this.#overflow > 0) {
      this.#audit.record({
        actor: { type: 'system', id: 'unknown' },
        action: 'authority.denials.suppressed',
        outcome: 'failure',
        reason: 'refusals from more callers and addresses than are tracked in a minute',
        source: { component: 'authority' },
        details: { refused: this.#overflow, audited: 0 },
      });
    }
    this.#seen = new Map();
    this.#overflow = 0;
  }

  /** Closes the minute when it has ended (called on each refusal, and by a timer so a flood's end is written). */
  tick(): void {
    const minute = Math.floor(this.#clock.now() / 60_000);
    if (minute === this.#minute) return;
    if (this.#minute !== -1) this.flush();
    this.#minute = minute;
  }
}
