/**
 * The bootstrap every component uses: a fastify server with HTTPS from the configured or local-CA
 * certificate, `/healthz`, `/readyz`, `/metrics`, RFC 9457 errors, request size and time limits, request
 * ids, and a graceful stop that drains in-flight requests. A component adds its routes as a plugin.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import Fastify, {
  type FastifyHttpsOptions,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Registry } from 'prom-client';
import type { BulwarkConfig } from '../config/types.ts';
import { coreError } from '../errors.ts';
import type { Logger } from '../log/index.ts';
import { listedCaller } from '../mtls/spiffe-id.ts';
import { mtlsServerOptions } from '../mtls/tls-options.ts';
import { localServerCredentials, type ServerCredentials } from '../tls/local-ca.ts';
import { secureContextOptions } from '../tls/policy.ts';
import { VERSION } from '../version.ts';
import { createServiceMetrics, type ServiceMetrics } from './metrics.ts';
import { callerOf, installMtlsGate, type ServiceMtls } from './mtls-gate.ts';
import { asBulwarkError, toProblem } from './problem.ts';

/** A check `/readyz` runs; resolve false or throw to report not ready. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface ServiceOptions {
  /** Component name: log field, metric label, certificate name. */
  name: string;
  config: BulwarkConfig;
  logger: Logger;
  /** Port to listen on (0 picks a free one). */
  port: number;
  /** The component's routes, registered in their own plugin scope. */
  routes?: FastifyPluginAsync;
  readiness?: Record<string, ReadinessCheck>;
  /** The component's own Prometheus registries, served after core's at `/metrics`. */
  metrics?: readonly Pick<Registry, 'metrics'>[];
  /** Certificates to serve instead of the configured files or the local CA. */
  credentials?: ServerCredentials;
  /** Serve the component's SVID and let only authenticated workloads in (see mtls-gate.ts). */
  mtls?: ServiceMtls;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Longest path parameter a route gets (an audit record id is up to 128 characters). */
const MAX_PARAM_LENGTH = 256;

export class Service {
  readonly name: string;
  readonly metrics: ServiceMetrics;
  readonly #options: ServiceOptions;
  #app: FastifyInstance | undefined;
  #url: string | undefined;
  #draining = false;
  #stopping: Promise<void> | undefined;

  constructor(options: ServiceOptions) {
    this.name = options.name;
    this.#options = options;
    this.metrics = createServiceMetrics(options.name, VERSION);
  }

  /** The fastify instance, for tests that inject requests. Available after {@link start}. */
  get app(): FastifyInstance {
    if (!this.#app) throw new TypeError('service not started');
    return this.#app;
  }

  get url(): string {
    if (!this.#url) throw new TypeError('service not started');
    return this.#url;
  }

  /** Builds the server and listens; resolves to the base URL. */
  async start(): Promise<string> {
    const { config, port } = this.#options;
    const app = await this.#build();
    this.#app = app;
    await app.listen({ host: config.server.host, port });
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const secure = config.server.tls.enabled || this.#options.mtls !== undefined;
    this.#url = `${secure ? 'https' : 'http'}://${host}:${address.port}`;
    return this.#url;
  }

  /**
   * Stops accepting, lets in-flight requests finish (up to `server.shutdownGraceMs`), then cuts what is
   * left. `/readyz` answers 503 from the first moment so that load balancers stop sending.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#draining = true;
      const app = this.#app;
      if (!app) return;
      const grace = this.#options.config.server.shutdownGraceMs;
      const timer = setTimeout(() => app.server.closeAllConnections(), grace);
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#stopping;
  }

  async #build(): Promise<FastifyInstance> {
    const { config, logger, name, mtls } = this.#options;
    const { limits } = config.server;
    // Node checks request and header deadlines on this interval (30 s by default, too coarse for the limits).
    const serverOptions = {
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs, limits.requestTimeoutMs),
    };
    const tls = mtls
      ? {
          ...mtlsServerOptions(mtls.identity.credentials.material, {
            minVersion: config.server.tls.minVersion,
            requireClientCertificate: false,
          }),
          ...serverOptions,
        }
      : config.server.tls.enabled
        ? {
            ...pickKeyPair(await this.#credentials()),
            ...secureContextOptions(config.server.tls.minVersion),
            ...serverOptions,
          }
        : null;
    const app = Fastify({
      loggerInstance: logger,
      // Our own onResponse hook logs one line per request, with the route template instead of raw headers.
      logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
      ...(tls ? { https: tls } : { http: serverOptions }),
      bodyLimit: limits.bodyBytes,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionTimeout: limits.requestTimeoutMs + limits.headersTimeoutMs,
      forceCloseConnections: 'idle',
      return503OnClosing: true,
      requestIdHeader: false,
      genReqId: (req) => {
        const given = req.headers['x-request-id'];
        return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      },
      // Path parameters up to MAX_PARAM_LENGTH (fastify's 100 refused audit record ids of 101-128 characters).
      routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: MAX_PARAM_LENGTH },
      // The router's own refusals (a path that does not percent-decode, a parameter over the limit) in the
      // problem format with a documented code like every other error, and without the path echoed back.
      frameworkErrors: (err: { code?: string }, req: FastifyRequest, reply: FastifyReply) => {
        const error = coreError(
          'invalid_request',
          err.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters`
            : 'the request path is not valid percent-encoding',
        );
        void reply
          .code(error.status)
          .type('application/problem+json')
          .header('cache-control', 'no-store')
          .send(toProblem(error, undefined, req.id));
      },
    } as FastifyHttpsOptions<https.Server>) as unknown as FastifyInstance;
    // Node only enforces requestTimeout when headersTimeout is not larger than it.
    app.server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);

    app.addHook('onRequest', async (_req, reply) => {
      reply.header('x-content-type-options', 'nosniff');
    });
    if (mtls) {
      // A renewed SVID or a new trust bundle reaches new handshakes without a restart.
      const detach = mtls.identity.credentials.attach(app.server as unknown as TlsServer);
      app.addHook('onClose', async () => detach());
      installMtlsGate(app, mtls);
    }
    app.addHook('onSend', async (req, reply) => {
      reply.header('x-request-id', req.id);
      // While draining, each finished response closes its connection, so keep-alive clients move elsewhere
      // instead of holding the shutdown open until their idle timeout.
      if (this.#draining) reply.header('connection', 'close');
    });
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      this.metrics.requestDuration.observe(
        { method: req.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
      req.log.info(
        {
          method: req.method,
          route,
          url: req.url,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
        },
        'request',
      );
    });

    app.setErrorHandler(async (err, req, reply) => {
      const error = asBulwarkError(err);
      if (error.status >= 500) req.log.error({ err: err as Error, code: error.code }, 'request failed');
      if (error.headers) reply.headers(error.headers);
      return reply
        .code(error.status)
        .type('application/problem+json')
        .header('cache-control', 'no-store')
        .send(toProblem(error, req.url.split('?')[0], req.id));
    });
    app.setNotFoundHandler(async (req) => {
      throw coreError('not_found', `no route for ${req.method} ${req.url.split('?')[0]}`);
    });

    app.get('/healthz', async () => ({ status: 'ok', component: name }));
    app.get('/readyz', async (_req, reply) => {
      const checks = await this.#readiness();
      const ready = !this.#draining && Object.values(checks).every(Boolean);
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not_ready', draining: this.#draining, checks });
    });
    // One scrape per process: core's request metrics and the component's own. Each registry renders with
    // its own default labels, so they are joined as text rather than merged.
    const registries = [this.metrics.registry, ...(this.#options.metrics ?? [])];
    const metricsCallers = this.#options.config.server.metricsCallers;
    app.get('/metrics', async (req, reply) => {
      // On mTLS the gate has already refused callers without an SVID; the list narrows who of the rest.
      const caller = callerOf(req)?.spiffeId.uri;
      if (caller !== undefined && !listedCaller(metricsCallers, caller)) {
        throw coreError('forbidden', `${caller} may not read this component's metrics`);
      }
      reply.type(this.metrics.registry.contentType);
      return (await Promise.all(registries.map((r) => r.metrics()))).join('\n');
    });
    if (this.#options.routes) await app.register(this.#options.routes);
    await app.ready();
    return app;
  }

  async #readiness(): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(this.#options.readiness ?? {})) {
      try {
        out[name] = await check();
      } catch {
        out[name] = false;
      }
    }
    return out;
  }

  async #credentials(): Promise<ServerCredentials> {
    if (this.#options.credentials) return this.#options.credentials;
    const { config, name } = this.#options;
    const tls = config.server.tls;
    if (tls.certFile && tls.keyFile) {
      return {
        cert: readFileSync(tls.certFile, 'utf8'),
        key: readFileSync(tls.keyFile, 'utf8'),
        ca: tls.caFile ? readFileSync(tls.caFile, 'utf8') : '',
      };
    }
    return localServerCredentials(config.home, name);
  }
}

function pickKeyPair({ cert, key }: ServerCredentials): { cert: string; key: string } {
  return { cert, key };
}
