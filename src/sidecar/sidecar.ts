/**
 * One sidecar: an mTLS inbound listener in front of the local application, one loopback listener per
 * upstream service the application calls, registration of the inbound port in service discovery, and a
 * loopback admin listener with `/metrics` and `/healthz`.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type AuditSink, type Clock, type Logger, systemClock } from '../core/index.ts';
import {
  type AuthorityClient,
  createMeshMetrics,
  createMeshServer,
  type MeshIdentity,
  type MeshMetrics,
  type ServicePolicy,
} from '../sdk/mesh/index.ts';
import type { SidecarSettings } from './config.ts';
import { inboundProxy } from './inbound-proxy.ts';
import { outboundServer } from './outbound-proxy.ts';
import { UpstreamCluster } from './upstream-cluster.ts';

export interface SidecarOptions {
  settings: SidecarSettings;
  identity: MeshIdentity;
  policy: ServicePolicy;
  /** Authority client with the workload's credentials: discovery and registration. */
  authority: AuthorityClient;
  audit?: AuditSink;
  logger?: Logger;
  clock?: Clock;
}

export interface RunningSidecar {
  inboundPort: number;
  outboundPorts: Record<string, number>;
  adminPort: number | undefined;
  metrics: MeshMetrics;
  clusters: Record<string, UpstreamCluster>;
  stop(): Promise<void>;
}

/**
 * @example
 * const sidecar = await startSidecar({ settings, identity, policy, authority });
 * // the app calls http://127.0.0.1:${sidecar.outboundPorts.payments}/charges
 */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const { settings, identity, authority } = options;
  const clock = options.clock ?? systemClock;
  const metrics = createMeshMetrics('sidecar', identity.credentials);
  const inbound = inboundProxy({
    appHost: settings.appHost,
    appPort: settings.appPort,
    identityHeader: settings.identityHeader,
    timeoutMs: settings.resilience.totalTimeoutMs,
  });
  const meshServer = createMeshServer({
    identity,
    policy: options.policy,
    handler: inbound.handler,
    metrics,
    clock,
    component: 'sidecar',
    minVersion: settings.minVersion,
    ...(options.audit ? { audit: options.audit } : {}),
  });
  const inboundPort = await listen(meshServer, settings.inboundPort, settings.inboundHost);

  const clusters: Record<string, UpstreamCluster> = {};
  const outboundServers: HttpServer[] = [];
  const outboundPorts: Record<string, number> = {};
  for (const { service, port } of settings.outbound) {
    const cluster = new UpstreamCluster({
      service,
      identity,
      resolve: (name) => authority.resolve(name),
      settings: settings.resilience,
      clock,
      metrics,
    });
    clusters[service] = cluster;
    const server = outboundServer(service, cluster, settings.identityHeader, metrics);
    outboundServers.push(server);
    // Outbound listeners are loopback only: they originate calls under this workload's identity.
    outboundPorts[service] = await listen(server, port, '127.0.0.1');
  }

  let admin: HttpServer | undefined;
  let adminPort: number | undefined;
  if (settings.adminPort >= 0) {
    admin = createHttpServer((req, res) => {
      if (req.url === '/metrics') {
        void metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        });
      } else if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok', spiffeId: identity.spiffeId }));
      } else {
        res.writeHead(404).end();
      }
    });
    adminPort = await listen(admin, settings.adminPort, '127.0.0.1');
  }

  const registration = await authority.register(settings.advertiseHost, inboundPort);
  const heartbeat = setInterval(
    () =>
      void authority
        .heartbeat(registration.id)
        .catch((err) => options.logger?.warn({ err }, 'heartbeat failed')),
    Math.max(500, (registration.ttlSeconds * 1000) / 3),
  );
  heartbeat.unref();

  return {
    inboundPort,
    outboundPorts,
    adminPort,
    metrics,
    clusters,
    stop: async () => {
      clearInterval(heartbeat);
      await authority.deregister(registration.id).catch(() => undefined);
      const servers: (HttpServer | HttpsServer)[] = [
        meshServer,
        ...outboundServers,
        ...(admin ? [admin] : []),
      ];
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
      await Promise.all(Object.values(clusters).map((c) => c.close()));
      inbound.close();
    },
  };
}

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
