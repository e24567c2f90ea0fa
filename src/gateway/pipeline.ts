/**
 * The gateway's request path, as a table (Envoy's filter chain; STYLE.md "Gateway"): stages run in this
 * order, any stage can stop the chain by throwing a gateway error or answering itself ('done'), and the
 * last row is the terminal upstream stage. Each row says what input the stage trusts.
 */
import type { RequestContext } from './context.ts';
import { authenticate } from './stages/authenticate.ts';
import { authorize } from './stages/authorize.ts';
import { canonicalize } from './stages/canonicalize.ts';
import { applyCors } from './stages/cors.ts';
import { filterIp } from './stages/ip-filter.ts';
import { limitByCaller, limitByClient } from './stages/rate-limit.ts';
import { selectRoute } from './stages/route.ts';
import { proxyUpstream } from './stages/upstream.ts';
import { validateRequest } from './stages/validate.ts';

/** A stage returns nothing to go on, 'done' when it answered itself, or a promise of either. */
export type StageResult = unknown;

export interface StageRow {
  readonly name: string;
  readonly run: (ctx: RequestContext) => StageResult;
  /** What the stage takes as established (documented, and listed in docs/gateway.md). */
  readonly trusts: string;
  readonly terminal?: true;
}

export const PIPELINE: readonly StageRow[] = Object.freeze([
  { name: 'canonicalize', run: canonicalize, trusts: 'nothing: raw target and raw headers' },
  { name: 'route', run: selectRoute, trusts: 'the canonical request' },
  // Before CORS: a preflight from a denied address is refused like any request, instead of answered 204
  // (which told it the route exists and what it allows).
  { name: 'ip-filter', run: filterIp, trusts: 'TCP peer; X-Forwarded-For only from trusted proxies' },
  { name: 'cors', run: applyCors, trusts: 'the route; Origin only as a string to compare' },
  { name: 'rate-limit-client', run: limitByClient, trusts: 'client address from ip-filter' },
  { name: 'authenticate', run: authenticate, trusts: 'nothing in a credential until verified' },
  { name: 'rate-limit-caller', run: limitByCaller, trusts: 'the verified principal' },
  { name: 'authorize', run: authorize, trusts: 'the verified principal and canonical request' },
  {
    name: 'validate',
    run: validateRequest,
    trusts: 'the route schemas; the body after size/type/depth checks',
  },
  { name: 'upstream', run: proxyUpstream, trusts: 'everything established above', terminal: true },
] satisfies StageRow[]);

/** Runs the table; synchronous stages cost no promise. */
export async function runPipeline(
  ctx: RequestContext,
  stages: readonly StageRow[] = PIPELINE,
): Promise<void> {
  const totals = ctx.runtime.timeStages ? ctx.runtime.stageTotals : undefined;
  for (const stage of stages) {
    const start = totals ? process.hrtime.bigint() : 0n;
    let result = stage.run(ctx);
    if (result instanceof Promise) result = await result;
    if (totals) {
      const total = totals.get(stage.name) ?? { ns: 0, count: 0 };
      total.ns += Number(process.hrtime.bigint() - start);
      total.count++;
      totals.set(stage.name, total);
    }
    if (result === 'done') return;
  }
}
