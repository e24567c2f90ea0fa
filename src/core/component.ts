/**
 * The contract between a component (audit, identity, policy...) and the platform. A component describes
 * its configuration and builds its routes from a context; the platform gives it logging, storage, the
 * listener and the process lifecycle. `bulwark run NAME` and the supervisor both go through
 * {@link runComponent}, so a component behaves the same on a laptop and in a cluster.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { AuditSink } from './audit/types.ts';
import { createAuditClient } from './audit-client/index.ts';
import { type Clock, systemClock } from './clock.ts';
import { isLoopback } from './config/insecure.ts';
import type { JsonSchema } from './config/schema.ts';
import type { BulwarkConfig, ComponentSectionConfig } from './config/types.ts';
import { ConfigError, type ErrorCatalog } from './errors.ts';
import { createLogger, type Logger } from './log/index.ts';
import {
  type ComponentMesh,
  componentDispatcher,
  joinComponentMesh,
  takeJoinToken,
} from './mtls/component-mesh.ts';
import type { ServingIdentity } from './service/mtls-gate.ts';
import { type ReadinessCheck, Service } from './service/service.ts';
import { openStore, type Store } from './storage/index.ts';

/** Where `bulwark up` runs `audit` unless `components.audit.port` says otherwise. */
const AUDIT_DEFAULT_PORT = 7301;

export interface ComponentContext {
  name: string;
  config: BulwarkConfig;
  /** This component's section, `components.<name>`. */
  section: ComponentSectionConfig;
  logger: Logger;
  clock: Clock;
  /** Opens this component's own store on the configured engine (the caller closes it). */
  openStore(): Store;
  /** Where the component writes its security events. */
  audit: AuditSink;
  /**
   * The component's membership of the mesh when it joined (under `bulwark up`): its SVID, and mTLS
   * dispatchers to call the other components by name. Undefined when it runs alone on the local CA.
   */
  mesh?: ComponentMesh;
}

export interface ComponentInstance {
  routes?: FastifyPluginAsync;
  readiness?: Record<string, ReadinessCheck>;
  /**
   * The component's own Prometheus metrics, served with core's at `/metrics`: a registry, or anything
   * that renders the exposition text (a gateway with workers merges its processes' registries).
   */
  metrics?: Pick<Registry, 'metrics'>;
  /** Called after the listener has drained. */
  close?(): Promise<void>;
  /**
   * Further listeners the component runs beside its API, by name (the gateway's public port), asked once
   * the component is listening; shown by `bulwark up` and `bulwark status`.
   */
  endpoints?(): Record<string, string>;
  /**
   * The SVID the listener serves when the component did not join through a join token: `authority`
   * issues its own, being the CA.
   */
  identity?: ServingIdentity;
}

export interface ComponentDefinition {
  name: string;
  /** One line for `bulwark up` and the docs. */
  description: string;
  defaultPort: number;
  /** The component's own config keys under `components.<name>` (beyond `enabled` and `port`). */
  configProperties: Record<string, JsonSchema>;
  /** The component's error catalog; each code must have a row in `docs/<name>.md` (a test checks). */
  errors?: ErrorCatalog;
  /**
   * Route prefixes callers may reach without an SVID when the component serves mTLS (identity's OpenID
   * Connect pages, for browsers). `/healthz` and `/readyz` always are.
   */
  publicPaths?: readonly string[];
  /**
   * The component tells its callers apart only by their SVIDs (audit's readers, keys' ACLs, policy's
   * admins). Run alone, without the mesh, it cannot: it then refuses to listen beyond loopback in
   * production mode, and warns in development.
   */
  callersFromMesh?: boolean;
  create(context: ComponentContext): Promise<ComponentInstance>;
}

export interface RunningComponent {
  url: string;
  /** The component's further listeners by name (see {@link ComponentInstance.endpoints}). */
  endpoints: Record<string, string>;
  service: Service;
  /** The component's mesh membership, when it joined. */
  mesh?: ComponentMesh;
  stop(): Promise<void>;
}

/**
 * Builds and starts one component.
 *
 * @example
 * const running = await runComponent(auditComponent, config);
 * console.log(running.url); // https://127.0.0.1:7301
 */
export async function runComponent(
  definition: ComponentDefinition,
  config: BulwarkConfig,
  options: { logger?: Logger; clock?: Clock; port?: number; audit?: AuditSink; joinToken?: string } = {},
): Promise<RunningComponent> {
  const section = config.components[definition.name] ?? { enabled: true, port: definition.defaultPort };
  const logger =
    options.logger ??
    createLogger({
      level: config.log.level,
      component: definition.name,
      redactKeys: config.log.redactKeys,
      maskFields: config.log.maskFields,
    });
  const joinToken = options.joinToken ?? takeJoinToken();
  // Joined before anything else: the component's audit client and its calls to other components need it.
  const mesh =
    config.mesh.authorityUrl && joinToken ? await joinComponentMesh(config, joinToken, logger) : undefined;
  if (definition.callersFromMesh && !mesh && !isLoopback(config.server.host)) {
    const issue = {
      path: 'server.host',
      message: `${definition.name} runs without the mesh, so it cannot tell its callers apart, and would listen on ${config.server.host}`,
      fix: 'run it under `bulwark up` with authority (mTLS, callers by SPIFFE ID), or listen on 127.0.0.1',
    };
    if (config.mode === 'production') throw new ConfigError([issue]);
    logger.warn({ issue }, 'a component without caller identity listens beyond loopback');
  }
  let auditDispatcher: Dispatcher | undefined = mesh?.dispatcher('audit');
  const context: ComponentContext = {
    name: definition.name,
    config,
    section,
    logger,
    clock: options.clock ?? systemClock,
    openStore: () => openStore(config.storage, { home: config.home, namespace: definition.name }),
    audit:
      options.audit ??
      componentAuditClient(definition.name, config, logger, undefined, () => auditDispatcher),
    ...(mesh ? { mesh } : {}),
  };
  let instance: ComponentInstance;
  try {
    instance = await definition.create(context);
  } catch (err) {
    await mesh?.close();
    throw err;
  }
  const serving = mesh ?? instance.identity;
  const ownAuditDispatcher =
    !mesh && instance.identity ? componentDispatcher(instance.identity, 'audit') : undefined;
  auditDispatcher ??= ownAuditDispatcher;
  const service = new Service({
    name: definition.name,
    config,
    logger,
    port: options.port ?? section.port,
    ...(instance.routes ? { routes: instance.routes } : {}),
    ...(instance.readiness ? { readiness: instance.readiness } : {}),
    ...(instance.metrics ? { metrics: [instance.metrics] } : {}),
    ...(serving
      ? {
          mtls: {
            identity: serving,
            ...(definition.publicPaths ? { publicPaths: definition.publicPaths } : {}),
          },
        }
      : {}),
  });
  let url: string;
  try {
    url = await service.start();
  } catch (err) {
    await instance.close?.();
    await mesh?.close();
    throw err;
  }
  // Listed in authority's registry once it can serve: sidecars and SDKs then reach it by name.
  await mesh
    ?.register(url)
    .catch((err) => logger.warn({ err: err as Error }, 'registering with authority failed'));
  let stopped: Promise<void> | undefined;
  return {
    url,
    endpoints: instance.endpoints?.() ?? {},
    service,
    ...(mesh ? { mesh } : {}),
    stop: () => {
      // Drain the listener first, then the component, then its audit events (flushed or spooled).
      stopped ??= service
        .stop()
        .finally(() => instance.close?.())
        .finally(() => (options.audit ? undefined : context.audit.close()))
        .finally(() => Promise.all([mesh?.close(), ownAuditDispatcher?.destroy()]));
      return stopped;
    },
  };
}

/**
 * The audit client of one process: events go to `url`, else `auditClient.url`, else the local `audit` on
 * its configured port (where `bulwark up` runs it), and are spooled in `<home>/spool/` while it is
 * unreachable.
 *
 * @example
 * const audit = componentAuditClient('sidecar-orders', config, logger);
 */
export function componentAuditClient(
  name: string,
  config: BulwarkConfig,
  logger: Logger,
  url?: string,
  dispatcher?: () => Dispatcher | undefined,
): AuditSink {
  const { server, auditClient, home } = config;
  const scheme = server.tls.enabled || config.mesh.authorityUrl ? 'https' : 'http';
  const target =
    url ??
    auditClient.url ??
    `${scheme}://${server.host}:${config.components['audit']?.port ?? AUDIT_DEFAULT_PORT}`;
  const caFile = server.tls.caFile ?? join(home, 'tls', 'ca.crt');
  return createAuditClient({
    url: target,
    ...(server.tls.enabled && existsSync(caFile) ? { ca: readFileSync(caFile, 'utf8') } : {}),
    ...(dispatcher ? { dispatcher } : {}),
    spoolDirectory: join(home, 'spool'),
    name,
    batchSize: auditClient.batchSize,
    flushIntervalMs: auditClient.flushIntervalMs,
    logger,
  });
}
