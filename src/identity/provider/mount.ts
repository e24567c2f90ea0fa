/**
 * Runs oidc-provider (a Koa application) inside the component's fastify server. Requests under `/oidc`
 * are handed over raw in `onRequest`, before fastify reads the body (oidc-provider parses its own), with
 * the prefix moved into `originalUrl` the way Express/Koa mounting does, so oidc-provider builds its URLs
 * under the issuer `https://host:port/oidc`.
 *
 * The Provider is built on the first request, once the listening port (and so the issuer) is known, and
 * rebuilt after a key rotation; requests in flight finish on the instance they started on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Provider } from 'oidc-provider';

export const OIDC_PREFIX = '/oidc';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class ProviderHost {
  readonly #build: (issuer: string) => Promise<Provider>;
  readonly #configuredIssuer: string | null;
  #issuer: string | undefined;
  #current: Promise<{ provider: Provider; handler: Handler }> | undefined;

  constructor(options: { build: (issuer: string) => Promise<Provider>; issuer: string | null }) {
    this.#build = options.build;
    this.#configuredIssuer = options.issuer;
  }

  /** The issuer; known once the server listens (or from `components.identity.issuer`). */
  get issuer(): string {
    if (!this.#issuer) throw new TypeError('the issuer is known once the server listens');
    return this.#issuer;
  }

  resolveIssuer(app: FastifyInstance, tls: boolean, host: string): string {
    if (this.#issuer) return this.#issuer;
    if (this.#configuredIssuer) {
      this.#issuer = this.#configuredIssuer;
    } else {
      const address = app.server.address() as AddressInfo;
      const name =
        host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
      this.#issuer = `${tls ? 'https' : 'http'}://${name}:${address.port}${OIDC_PREFIX}`;
    }
    return this.#issuer;
  }

  async provider(): Promise<Provider> {
    return (await this.#instance()).provider;
  }

  async handler(): Promise<Handler> {
    return (await this.#instance()).handler;
  }

  /** Builds a new Provider (new keys); the old one serves nothing new once this resolves. */
  async rebuild(): Promise<void> {
    const next = this.#make();
    await next;
    this.#current = next;
  }

  #instance() {
    this.#current ??= this.#make();
    return this.#current;
  }

  async #make() {
    const provider = await this.#build(this.issuer);
    return { provider, handler: provider.callback() as Handler };
  }
}

interface HandOverRequest {
  raw: IncomingMessage;
  body?: unknown;
}

/**
 * Passes a request to oidc-provider. A body fastify already parsed travels as `req.body`, which
 * oidc-provider accepts in place of the stream.
 */
export async function handOver(
  host: ProviderHost,
  app: FastifyInstance,
  options: { tls: boolean; listenHost: string },
  request: HandOverRequest,
  reply: { hijack(): void; raw: ServerResponse },
): Promise<void> {
  host.resolveIssuer(app, options.tls, options.listenHost);
  reply.hijack();
  const handler = await host.handler();
  const raw = request.raw as IncomingMessage & { originalUrl?: string; body?: unknown };
  if (request.body !== undefined) raw.body = request.body;
  raw.originalUrl = raw.url;
  raw.url = raw.url!.slice(OIDC_PREFIX.length) || '/';
  handler(raw, reply.raw);
}

/** Registers the hand-over routes in the caller's fastify scope. */
export function mountProvider(
  app: FastifyInstance,
  host: ProviderHost,
  tls: boolean,
  listenHost: string,
): void {
  const onRequest = (request: HandOverRequest, reply: { hijack(): void; raw: ServerResponse }) =>
    handOver(host, app, { tls, listenHost }, { raw: request.raw }, reply);
  for (const url of [OIDC_PREFIX, `${OIDC_PREFIX}/*`]) {
    app.route({
      method: ['GET', 'POST', 'OPTIONS', 'DELETE', 'PUT'],
      url,
      onRequest,
      // Never reached: the request was hijacked in onRequest.
      handler: async () => undefined,
    });
  }
}
