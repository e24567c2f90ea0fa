/**
 * The contract between a component (audit, identity, policy...) and the platform. A component describes
 * its configuration and builds its routes from a context; the platform gives it logging, storage, the
 * listener and the process lifecycle. `bulwark run NAME` and the supervisor both go through
 * {@link runComponent}, so a component behaves the same on a laptop and in a cluster.
 */
import type { FastifyPluginAsync } from 'fastify';
import { type AuditSink, MemoryAuditSink } from './audit/types.ts';
import { type Clock, systemClock } from './clock.ts';
import type { JsonSchema } from './config/schema.ts';
import type { BulwarkConfig, ComponentSectionConfig } from './config/types.ts';
import type { ErrorCatalog } from './errors.ts';
import { createLogger, type Logger } from './log/index.ts';
import { type ReadinessCheck, Service } from './service/service.ts';
import { openStore, type Store } from './storage/index.ts';

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
}

export interface ComponentInstance {
  routes?: FastifyPluginAsync;
  readiness?: Record<string, ReadinessCheck>;
  /** Called after the listener has drained. */
  close?(): Promise<void>;
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
  create(context: ComponentContext): Promise<ComponentInstance>;
}

export interface RunningComponent {
  url: string;
  service: Service;
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
  options: { logger?: Logger; clock?: Clock; port?: number; audit?: AuditSink } = {},
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
  const context: ComponentContext = {
    name: definition.name,
    config,
    section,
    logger,
    clock: options.clock ?? systemClock,
    openStore: () => openStore(config.storage, { home: config.home, namespace: definition.name }),
    // Until the audit client is wired in, events are kept in memory (the audit issue replaces this).
    audit: options.audit ?? new MemoryAuditSink(),
  };
  const instance = await definition.create(context);
  const service = new Service({
    name: definition.name,
    config,
    logger,
    port: options.port ?? section.port,
    ...(instance.routes ? { routes: instance.routes } : {}),
    ...(instance.readiness ? { readiness: instance.readiness } : {}),
  });
  let url: string;
  try {
    url = await service.start();
  } catch (err) {
    await instance.close?.();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    url,
    service,
    stop: () => {
      stopped ??= service.stop().finally(() => instance.close?.());
      return stopped;
    },
  };
}
