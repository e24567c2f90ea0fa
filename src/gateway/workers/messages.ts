/**
 * What the gateway component (the primary process) and its worker processes say to each other over the
 * IPC channel. The primary owns everything that changes at run time (routes, revocations, the policy
 * bundle, its SVID) and hands each change to every worker; workers only serve the public port and hand
 * back their audit events and metrics. Every field is plain data (it crosses as JSON).
 */

import type { AuditEvent, LoggerSettings } from '../../core/index.ts';
import type { RevocationFeed } from '../../core/mtls/index.ts';
import type { SvidMaterial } from '../../core/mtls/tls-options.ts';
import type { BundleSource } from '../../core/policy-engine/index.ts';
import type { IssuerConfig } from '../auth/jwt-authenticator.ts';
import type { Revocation } from '../auth/revocation-list.ts';
import type { GatewayOptions } from '../gateway.ts';
import type { CounterOp, CounterResult } from '../limits/counters.ts';
import type { RouteDocument } from '../routes/route-file.ts';

/** The parts of a gateway's options that are data: the same for the primary and every worker. */
export interface GatewaySettings {
  issuers: IssuerConfig[];
  /** PEM certificates the JWKS and introspection fetches trust. */
  jwksCa: string[];
  jwksCooldownMs: number;
  redisUrl: string | null;
  trustedProxies: string[];
  allowedHosts: string[];
  pathOptions: GatewayOptions['pathOptions'];
  limits: GatewayOptions['limits'];
  /** The identity-assertion key: one for all processes, so upstreams verify any of them with one JWKS. */
  identityKeyPem: string;
  assertionTtlSeconds: number;
  auditAllowSampleRate: number;
  hstsMaxAgeSeconds: number;
  rateLimitMaxKeys: number;
  /** HTTP/2 by prior knowledge beside HTTP/1.1 when the public port has no TLS. */
  h2c: boolean;
  /** The public listener's certificate, unless it is the SVID (`mesh`). */
  tls?: { cert: string; key: string; minVersion: 'TLSv1.2' | 'TLSv1.3' };
}

export interface WorkerInit {
  type: 'init';
  settings: GatewaySettings;
  routes: RouteDocument;
  policy: BundleSource | undefined;
  revocations: Revocation[];
  /** The gateway's SVID under `bulwark up`: public certificate and upstream mTLS, with peer revocations. */
  mesh?: {
    material: SvidMaterial;
    trustDomain: string;
    minVersion: 'TLSv1.2' | 'TLSv1.3';
    peerRevocations: RevocationFeed;
  };
  port: number;
  host: string;
  /** The component's log settings, redaction included. */
  log: Pick<LoggerSettings, 'level' | 'redactKeys' | 'maskFields'>;
}

export type ToWorker =
  | WorkerInit
  | { type: 'routes'; document: RouteDocument }
  | { type: 'revoke'; revocation: Revocation }
  | { type: 'bundle'; source: BundleSource }
  | { type: 'svid'; material: SvidMaterial }
  | { type: 'peer-revocations'; feed: RevocationFeed }
  | { type: 'metrics'; id: number }
  | { type: 'close'; graceMs: number }
  /** The component's answer to a worker's batch of limit operations (see remote-counters.ts). */
  | { type: 'counters'; id: number; results: CounterResult[] };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'audit'; events: AuditEvent[] }
  | { type: 'metrics'; id: number; metrics: unknown[] }
  | { type: 'counters'; id: number; ops: CounterOp[] };
