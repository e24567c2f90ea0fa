/**
 * A `fetch`-like client for calling other services over mTLS by name: it resolves healthy instances
 * through authority, presents the workload's current SVID, and accepts the server only if its SVID is
 * the called service's SPIFFE ID (`spiffe://<trust domain>/service/<name>`).
 */
import { type Dispatcher, fetch, type RequestInit, type Response } from 'undici';
import { type Clock, coreError, systemClock } from '../../core/index.ts';
import type { ResolvedInstance } from '../../core/mtls/index.ts';
import { mtlsDispatcher, serviceSpiffeId } from '../../core/mtls/index.ts';
import type { MeshIdentity } from './mesh-identity.ts';

export type Resolver = (service: string) => Promise<readonly Pick<ResolvedInstance, 'host' | 'port'>[]>;

export interface MeshClientOptions {
  identity: MeshIdentity;
  /** Name -> instances; usually `(name) => authorityClient.resolve(name)`. */
  resolve: Resolver;
  /** How long a resolution is reused. */
  resolveCacheMs?: number;
  clock?: Clock;
}

export class MeshClient {
  readonly #o: MeshClientOptions;
  readonly #clock: Clock;
  readonly #dispatchers = new Map<string, Dispatcher>();
  readonly #resolved = new Map<
    string,
    { at: number; instances: readonly { host: string; port: number }[] }
  >();
  readonly #refreshing = new Map<string, Promise<readonly { host: string; port: number }[]>>();
  #next = 0;

  constructor(options: MeshClientOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Calls `path` on a healthy instance of `service`.
   *
   * @example
   * const res = await client.fetch('payments', '/v1/charges', { method: 'POST', body: JSON.stringify(charge) });
   */
  async fetch(service: string, path: string, init: RequestInit = {}): Promise<Response> {
    const instances = await this.#instances(service);
    if (instances.length === 0) throw coreError('upstream_unavailable', `no healthy instance of ${service}`);
    const instance = instances[this.#next++ % instances.length]!;
    const host = instance.host.includes(':') ? `[${instance.host}]` : instance.host;
    return fetch(new URL(path, `https://${host}:${instance.port}`), {
      ...init,
      dispatcher: this.dispatcher(service),
    });
  }

  /** The mTLS dispatcher that only accepts `service`'s SVID (for use with undici directly). */
  dispatcher(service: string): Dispatcher {
    let dispatcher = this.#dispatchers.get(service);
    if (!dispatcher) {
      const expected = serviceSpiffeId(this.#o.identity.trustDomain, service);
      dispatcher = mtlsDispatcher(this.#o.identity.credentials, {
        trustDomains: new Set([this.#o.identity.trustDomain]),
        revocations: this.#o.identity.revocations,
        authorizeServer: (id) => id === expected,
      });
      this.#dispatchers.set(service, dispatcher);
    }
    return dispatcher;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#dispatchers.values()].map((d) => d.close()));
  }

  /** Cached resolution, refreshed in the background once stale (only the first call waits). */
  async #instances(service: string) {
    const cached = this.#resolved.get(service);
    if (cached) {
      if (this.#clock.now() - cached.at >= (this.#o.resolveCacheMs ?? 2000))
        void this.#refresh(service).catch(() => undefined);
      return cached.instances;
    }
    return this.#refresh(service);
  }

  #refresh(service: string): Promise<readonly { host: string; port: number }[]> {
    let pending = this.#refreshing.get(service);
    if (!pending) {
      pending = this.#o
        .resolve(service)
        .then((instances) => {
          this.#resolved.set(service, { at: this.#clock.now(), instances });
          return instances;
        })
        .finally(() => this.#refreshing.delete(service));
      this.#refreshing.set(service, pending);
    }
    return pending;
  }
}
