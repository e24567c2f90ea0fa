/** Prometheus metrics of a mesh endpoint (SDK server or sidecar): handshakes, denials, SVID expiry. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RotatingCredentials } from '../../core/mtls/index.ts';

export interface MeshMetrics {
  registry: Registry;
  handshakes: Counter<'direction' | 'result'>;
  denials: Counter<'reason'>;
  requests: Counter<'direction' | 'status'>;
  upstreamSeconds: Histogram<'service'>;
  retries: Counter<'service'>;
}

export function createMeshMetrics(name: string, credentials?: RotatingCredentials): MeshMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ component: name });
  if (credentials) {
    new Gauge({
      name: 'bulwark_mesh_svid_expiry_timestamp_seconds',
      help: 'Expiry (Unix seconds) of the SVID this workload presents now.',
      labelNames: ['spiffe_id'],
      registers: [registry],
      collect() {
        const m = credentials.material;
        this.reset();
        this.set({ spiffe_id: m.spiffeId }, Math.floor(m.notAfter / 1000));
      },
    });
  }
  return {
    registry,
    handshakes: new Counter({
      name: 'bulwark_mesh_tls_handshakes_total',
      help: 'mTLS handshakes, inbound or outbound, by result (ok, or the refusal reason).',
      labelNames: ['direction', 'result'],
      registers: [registry],
    }),
    denials: new Counter({
      name: 'bulwark_mesh_denials_total',
      help: 'Refused callers, by reason (error code).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    requests: new Counter({
      name: 'bulwark_mesh_requests_total',
      help: 'Requests handled, by direction and status.',
      labelNames: ['direction', 'status'],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'bulwark_mesh_upstream_duration_seconds',
      help: 'Time for an outbound call to an upstream service, retries included.',
      labelNames: ['service'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'bulwark_mesh_retries_total',
      help: 'Retried outbound attempts, by upstream service.',
      labelNames: ['service'],
      registers: [registry],
    }),
  };
}
