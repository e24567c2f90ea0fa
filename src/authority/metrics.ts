/** The authority's Prometheus metrics, on their own registry (served with core's at `GET /metrics`). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface AuthorityMetrics {
  registry: Registry;
  issued: Counter<'kind'>;
  issueSeconds: Histogram;
  denials: Counter<'reason'>;
  revoked: Counter;
  svidExpiry: Gauge<'spiffe_id'>;
}

export function createAuthorityMetrics(): AuthorityMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ component: 'authority' });
  return {
    registry,
    issued: new Counter({
      name: 'bulwark_authority_svids_issued_total',
      help: 'X.509-SVIDs issued, by kind (attest: first SVID from a join token; renew: over mTLS).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    issueSeconds: new Histogram({
      name: 'bulwark_authority_svid_issue_duration_seconds',
      help: 'Time to verify a CSR and sign an SVID.',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    }),
    denials: new Counter({
      name: 'bulwark_authority_denials_total',
      help: 'Refused requests, by reason (error code).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    revoked: new Counter({
      name: 'bulwark_authority_svids_revoked_total',
      help: 'SVIDs revoked.',
      registers: [registry],
    }),
    svidExpiry: new Gauge({
      name: 'bulwark_authority_svid_expiry_timestamp_seconds',
      help: 'Expiry (Unix seconds) of the newest SVID issued to each workload.',
      labelNames: ['spiffe_id'],
      registers: [registry],
    }),
  };
}
