/**
 * The sidecar (`bulwark sidecar`): mTLS and the service-to-service policy in front of an application in
 * any language, and resilient mTLS calls to the services it uses.
 */
export {
  DEFAULT_RESILIENCE,
  DEFAULT_SIDECAR,
  type ResilienceSettings,
  type SidecarSettings,
} from './config.ts';
export { SIDECAR_ERRORS, type SidecarErrorCode, sidecarError } from './errors.ts';
export { CircuitBreaker, type CircuitState } from './resilience/circuit-breaker.ts';
export { OutlierDetector } from './resilience/outlier-detector.ts';
export { RetryBudget } from './resilience/retry-budget.ts';
export { type RunningSidecar, type SidecarOptions, startSidecar } from './sidecar.ts';
export { UpstreamCluster, type UpstreamRequest } from './upstream-cluster.ts';
