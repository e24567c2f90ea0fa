/**
 * The decision log: every deny, and allows at a sample rate, go to the audit sink with the ids of the
 * policies that decided, so an investigator can tell why a request was refused (or let through). Context
 * values are left out: they may hold personal data (addresses, paths with ids).
 */
import type { AuditActor, AuditEvent, AuditSink } from '../audit/types.ts';
import type { Decision, DecisionRequest } from './engine.ts';
import { actionRef, type EntityRef } from './entity-uid.ts';

export interface DecisionLogOptions {
  sink: AuditSink;
  /** Fraction of allows recorded, 0..1 (denies are always recorded). */
  allowSampleRate: number;
  /** Component name written as the event source (`gateway`, `sidecar`, `policy`). */
  component: string;
  /** Random source in [0, 1), injectable for tests. */
  random?: () => number;
}

/**
 * @example
 * const log = new DecisionLog({ sink: ctx.audit, allowSampleRate: 0.01, component: 'gateway' });
 * const engine = new PolicyEngine({ decisionLog: log });
 */
export class DecisionLog {
  readonly #options: DecisionLogOptions;
  readonly #random: () => number;

  constructor(options: DecisionLogOptions) {
    if (!(options.allowSampleRate >= 0 && options.allowSampleRate <= 1)) {
      throw new TypeError('allowSampleRate must be between 0 and 1');
    }
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  record(request: DecisionRequest, decision: Decision, requestId?: string): void {
    if (decision.decision === 'allow') {
      const rate = this.#options.allowSampleRate;
      if (rate === 0 || (rate < 1 && this.#random() >= rate)) return;
    }
    const action = actionRef(request.action);
    const event: AuditEvent = {
      actor: actorOf(request.principal),
      action: 'policy.decision',
      target: { type: request.resource.type, id: request.resource.id },
      outcome: decision.decision === 'allow' ? 'success' : 'failure',
      reason: decision.decision,
      source: { component: this.#options.component },
      category: 'security',
      details: {
        decision: decision.decision,
        action: action.id,
        policies: decision.policies,
        errors: decision.errors,
        bundle: decision.bundle,
        ...(decision.decision === 'allow' ? { sampleRate: this.#options.allowSampleRate } : {}),
      },
      ...(requestId ? { requestId } : {}),
    };
    this.#options.sink.record(event);
  }
}

function actorOf(principal: EntityRef): AuditActor {
  const type = principal.type.slice(principal.type.lastIndexOf(':') + 1);
  if (type === 'User') return { type: 'user', id: principal.id };
  if (type === 'Service') return { type: 'service', id: principal.id };
  if (type === 'ServiceAccount') return { type: 'client', id: principal.id };
  return { type: 'system', id: `${principal.type}::${principal.id}` };
}
