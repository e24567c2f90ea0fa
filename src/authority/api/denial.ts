/** Every refusal by the authority is counted by reason and audited with the caller as far as it is known. */
import type { FastifyRequest } from 'fastify';
import { BulwarkError } from '../../core/index.ts';
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
  ctx.audit.record({
    actor: { type: actor.startsWith('spiffe://') ? 'service' : 'system', id: actor },
    action,
    outcome: 'failure',
    reason: code,
    source: { component: 'authority', ip: req.ip },
    requestId: req.id,
  });
  throw err;
}
