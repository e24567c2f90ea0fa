/** What the authority's route plugins share. */
import type { AuditSink, Clock, Logger } from '../../core/index.ts';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import type { AuthorityConfig } from '../config.ts';
import type { AuthorityMetrics } from '../metrics.ts';
import type { Instances } from '../store/instances.ts';
import type { JoinTokens } from '../store/join-tokens.ts';
import type { Revocations } from '../store/revocations.ts';
import type { CallerResolver } from './caller.ts';
import type { DenialBudget } from './denial.ts';

export interface AuthorityContext {
  config: AuthorityConfig;
  ca: CertificateAuthority;
  joinTokens: JoinTokens;
  revocations: Revocations;
  instances: Instances;
  callers: CallerResolver;
  metrics: AuthorityMetrics;
  audit: AuditSink;
  /** Which refusals get an audit record of their own (see denial.ts). */
  denials: DenialBudget;
  clock: Clock;
  logger: Logger;
  /** Called after the trust bundle changed (rotation), so the listener trusts the new roots. */
  onBundleChange(): Promise<void>;
}
