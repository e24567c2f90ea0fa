/**
 * Prometheus metrics of one service: process metrics, `bulwark_build_info`, and request latency by route.
 * One registry per service instance (no global registry), so tests can run several in one process.
 */
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface ServiceMetrics {
  registry: Registry;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
}

export function createServiceMetrics(component: string, version: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'bulwark_' });
  const buildInfo = new Gauge({
    name: 'bulwark_build_info',
    help: 'Always 1; labels say which build of Bulwark runs.',
    labelNames: ['version', 'node'],
    registers: [registry],
  });
  buildInfo.set({ version, node: process.version }, 1);
  const requestDuration = new Histogram({
    name: 'bulwark_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route template and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, requestDuration };
}
