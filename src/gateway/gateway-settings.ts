/**
 * One gateway from its settings (plain data) and the live parts of its process (logger, audit sink,
 * policy engine, SVID). The component builds its own gateway here and each worker process builds its copy
 * from the same settings, so the processes behind one port cannot drift apart.
 */
import type { Server as TlsServer } from 'node:tls';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import type { AuditSink, Clock, Logger } from '../core/index.ts';
import type { RotatingCredentials } from '../core/mtls/index.ts';
import type { PolicyEngine } from '../core/policy-engine/index.ts';
import { Gateway } from './gateway.ts';
import type { LimitCounters } from './limits/counters.ts';
import type { RouteDocument } from './routes/route-file.ts';
import type { ListenerTls } from './server.ts';
import type { UpstreamIdentity } from './upstream/upstream-service.ts';
import type { GatewaySettings } from './workers/messages.ts';

export interface GatewayParts {
  routes: RouteDocument;
  logger: Logger;
  audit: AuditSink;
  clock: Clock;
  engine: PolicyEngine;
  /** Where in-memory limits count: the component's counters, shared with its workers. */
  counters?: LimitCounters;
  /** The SVID, for upstreams named by SPIFFE ID. */
  upstreamIdentity?: UpstreamIdentity;
  /** The SVID, as public certificate (following renewals) when `settings.tls` names none. */
  svid?: { credentials: RotatingCredentials; minVersion: 'TLSv1.2' | 'TLSv1.3' };
}

export interface BuiltGateway {
  gateway: Gateway;
  /** Closes what the gateway was given besides itself: the JWKS client, Redis, the SVID attachment. */
  release(): Promise<void>;
}

export function gatewayFromSettings(settings: GatewaySettings, parts: GatewayParts): BuiltGateway {
  const jwksDispatcher = new Agent({ connect: settings.jwksCa.length ? { ca: settings.jwksCa } : {} });
  const redis = settings.redisUrl
    ? new Redis(settings.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    : undefined;
  redis?.on('error', (err) => parts.logger.warn({ err: { message: err.message } }, 'redis error'));
  const svid = settings.tls ? undefined : parts.svid;
  const tls: ListenerTls | undefined =
    settings.tls ??
    (svid && {
      cert: svid.credentials.material.certChain,
      key: svid.credentials.material.key,
      minVersion: svid.minVersion,
    });
  const gateway = new Gateway({
    routes: parts.routes,
    ...(parts.upstreamIdentity ? { upstreamIdentity: parts.upstreamIdentity } : {}),
    issuers: settings.issuers,
    logger: parts.logger,
    audit: parts.audit,
    clock: parts.clock,
    engine: parts.engine,
    ...(parts.counters ? { counters: parts.counters } : {}),
    ...(redis ? { redis } : {}),
    trustedProxies: settings.trustedProxies,
    allowedHosts: settings.allowedHosts,
    ...(settings.pathOptions ? { pathOptions: settings.pathOptions } : {}),
    ...(tls ? { tls } : { h2c: settings.h2c }),
    ...(settings.limits ? { limits: settings.limits } : {}),
    jwksDispatcher,
    jwksCooldownMs: settings.jwksCooldownMs,
    identityKeyPem: settings.identityKeyPem,
    assertionTtlSeconds: settings.assertionTtlSeconds,
    auditAllowSampleRate: settings.auditAllowSampleRate,
    hstsMaxAgeSeconds: settings.hstsMaxAgeSeconds,
    rateLimitMaxKeys: settings.rateLimitMaxKeys,
  });
  const detachSvid = svid?.credentials.attach(gateway.server as unknown as TlsServer);
  return {
    gateway,
    async release() {
      detachSvid?.();
      redis?.disconnect();
      await jwksDispatcher.close();
    },
  };
}
