/**
 * The sidecar's settings, with secure defaults. `bulwark sidecar` fills them from flags and the
 * environment; everything is loopback unless told otherwise, except the inbound mTLS port, which is what
 * other services reach.
 */
export interface ResilienceSettings {
  /** Time allowed for one attempt (connect + response headers). */
  perTryTimeoutMs: number;
  /** Time allowed for the whole call, retries included. */
  totalTimeoutMs: number;
  /** Attempts after the first one, for idempotent requests only. */
  maxRetries: number;
  retryBudgetRatio: number;
  retryBudgetMinPerSecond: number;
  circuitFailureThreshold: number;
  circuitOpenMs: number;
  outlierConsecutiveErrors: number;
  outlierBaseEjectionMs: number;
  outlierMaxEjectedPercent: number;
}

export interface SidecarSettings {
  /** The mTLS port other services call (0 picks one). */
  inboundPort: number;
  inboundHost: string;
  /** Host other services should dial, as registered in discovery. */
  advertiseHost: string;
  /** The local application, on loopback. */
  appPort: number;
  appHost: string;
  /** Local ports the application calls, one per upstream service name. */
  outbound: { service: string; port: number }[];
  /** Header carrying the verified caller SPIFFE ID to the application (any incoming copy is removed). */
  identityHeader: string;
  /** Loopback port of `/metrics`, `/healthz` (0 picks one, -1 disables). */
  adminPort: number;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  resilience: ResilienceSettings;
}

export const DEFAULT_RESILIENCE: ResilienceSettings = {
  perTryTimeoutMs: 2000,
  totalTimeoutMs: 10_000,
  maxRetries: 2,
  retryBudgetRatio: 0.2,
  retryBudgetMinPerSecond: 10,
  circuitFailureThreshold: 5,
  circuitOpenMs: 5000,
  outlierConsecutiveErrors: 3,
  outlierBaseEjectionMs: 5000,
  outlierMaxEjectedPercent: 50,
};

export const DEFAULT_SIDECAR: Omit<SidecarSettings, 'appPort'> = {
  inboundPort: 15443,
  inboundHost: '127.0.0.1',
  advertiseHost: '127.0.0.1',
  appHost: '127.0.0.1',
  outbound: [],
  identityHeader: 'x-bulwark-peer-id',
  adminPort: 15090,
  minVersion: 'TLSv1.2',
  resilience: DEFAULT_RESILIENCE,
};
