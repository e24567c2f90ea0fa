/**
 * What stages share: the active route table (swapped atomically on reload), the verifiers, the policy
 * engine, limiters, metrics and the audit sink. Built once by `gateway.ts`; stages read it through the
 * request context, so tests can build one with in-memory parts.
 */
import type { BlockList } from 'node:net';
import type { PathOptions } from '../core/http/canonical-path.ts';
import type { AuditSink, Clock, Logger } from '../core/index.ts';
import type { Decision, PolicyEngine } from '../core/policy-engine/index.ts';
import type { JwtAuthenticator } from './auth/jwt-authenticator.ts';
import type { RevocationList } from './auth/revocation-list.ts';
import type { LimitCounters } from './limits/counters.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import type { RouteTable } from './routes/route-table.ts';
import type { AssertionSigner } from './upstream/identity-assertion.ts';

export interface GatewayRuntime {
  table: RouteTable;
  readonly clock: Clock;
  /** Uniform in [0, 1); injected so audit sampling is testable. */
  readonly random: () => number;
  readonly logger: Logger;
  readonly audit: AuditSink;
  /** In-memory rate-limit and concurrency counters (this process's, or the component's for its workers). */
  readonly counters: LimitCounters;
  readonly metrics: GatewayMetrics;
  readonly authenticator: JwtAuthenticator;
  readonly revocations: RevocationList;
  readonly engine: PolicyEngine;
  /** Route decisions by their full input (see stages/authorize.ts); bounded, cleared when full. */
  readonly decisions: Map<string, Decision>;
  readonly signer: AssertionSigner;
  readonly pathOptions: PathOptions;
  /** Peers whose X-Forwarded-For is believed; empty means nobody's. */
  readonly trustedProxies: BlockList | undefined;
  /** Hosts this gateway serves; empty means any well-formed host. */
  readonly allowedHosts: ReadonlySet<string> | undefined;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
  readonly tls: boolean;
  readonly hstsMaxAgeSeconds: number;
  readonly auditAllowSampleRate: number;
  /** Measure each stage's time into `stageTotals` (bench only: two hrtime calls per stage; the terminal stage's time ends when the upstream's response head arrives). */
  readonly timeStages: boolean;
  readonly stageTotals: Map<string, { ns: number; count: number }>;
}
