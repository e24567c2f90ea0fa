/**
 * Every refusal by the authority is counted by reason and audited with the caller as far as it is known.
 * Refusals need no credentials to provoke (a made-up join token will do), so audit records are budgeted
 * per source address: past `perMinute` in a minute, the rest of that minute's refusals from the address
 * are counted into one `authority.denials.suppressed` record instead of one record each.
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
  if (ctx.denials.admit(req.ip)) {
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
  /** Refusals seen per address in the current minute (bounded: past 10,000 addresses none is admitted). */
  #seen = new Map<string, number>();
  #minute = -1;

  constructor(audit: AuditSink, clock: Clock, perMinute = 60) {
    this.#audit = audit;
    this.#clock = clock;
    this.#perMinute = perMinute;
  }

  /** Whether this refusal gets its own audit record. */
  admit(ip: string): boolean {
    this.tick();
    const count = (this.#seen.get(ip) ?? 0) + 1;
    if (this.#seen.size < 10_000 || this.#seen.has(ip)) this.#seen.set(ip, count);
    return count <= this.#perMinute && this.#seen.has(ip);
  }

  /** Writes the summary of the minute that ended (and of the current one, at shutdown). */
  flush(): void {
    for (const [ip, count] of this.#seen) {
      if (count <= this.#perMinute) continue;
      this.#audit.record({
        actor: { type: 'system', id: 'unknown' },
        action: 'authority.denials.suppressed',
        outcome: 'failure',
        reason: 'too many refusals from one address: counted, not audited one by one',
        source: { component: 'authority', ip },
        details: { refused: count, audited: this.#perMinute },
      });
    }
    this.#seen = new Map();
  }

  /** Closes the minute when it has ended (called on each refusal, and by a timer so a flood's end is written). */
  tick(): void {
    const minute = Math.floor(this.#clock.now() / 60_000);
    if (minute === this.#minute) return;
    if (this.#minute !== -1) this.flush();
    this.#minute = minute;
  }
}
