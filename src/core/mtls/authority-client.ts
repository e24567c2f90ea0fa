/**
 * The workload side of authority's HTTP API. Calls that need the workload's identity (renewal,
 * registration, the revocation feed) present the current SVID as a client certificate; the authority's
 * own certificate is checked against the authority CA and the trust bundle, and must be the authority's
 * SVID (`/service/authority`): host names alone prove nothing when every component's SVID names loopback.
 */
import { Agent, request } from 'undici';
import { BulwarkError, coreError } from '../errors.ts';
import { componentServerCheck } from './peer-identity.ts';
import type { RevocationFeedEntry } from './revocation-set.ts';
import type { RotatingCredentials } from './rotating-credentials.ts';

/**
 * The authority always serves with its own SVID: anything else (another component's SVID, which chains to
 * the same root and names the same hosts) is refused before a join token, CSR or SVID is sent.
 */
const AUTHORITY = componentServerCheck('authority', true);

export interface SvidResponse {
  spiffeId: string;
  serial: string;
  certChain: string;
  bundle: string[];
  notBefore: string;
  notAfter: string;
}

export interface ResolvedInstance {
  id: string;
  service: string;
  spiffeId: string;
  host: string;
  port: number;
  healthy: boolean;
}

export interface AuthorityClientOptions {
  /** Base URL, e.g. `https://127.0.0.1:7305`. */
  url: string;
  /** PEM CA that the authority's server certificate chains to (`<home>/tls/ca.crt` by default). */
  authorityCa: string;
  timeoutMs?: number;
}

export class AuthorityClient {
  readonly #o: AuthorityClientOptions;
  readonly #anonymous: Agent;
  #credentials: RotatingCredentials | undefined;
  #agent: { generation: number; agent: Agent } | undefined;

  constructor(options: AuthorityClientOptions) {
    this.#o = options;
    this.#anonymous = new Agent({
      connect: {
        ca: options.authorityCa,
        checkServerIdentity: AUTHORITY,
        timeout: options.timeoutMs ?? 5000,
      },
    });
  }

  /** From now on, identify with these credentials where the authority requires an SVID. */
  useCredentials(credentials: RotatingCredentials): void {
    this.#credentials = credentials;
  }

  attest(joinToken: string, csr: string): Promise<SvidResponse> {
    return this.#call('POST', '/v1/attest', { joinToken, csr }, false);
  }

  renew(csr: string): Promise<SvidResponse> {
    return this.#call('POST', '/v1/svids', { csr }, true);
  }

  bundle(): Promise<{
    keys: { use: string; x5c: string[] }[];
    spiffe_sequence: number;
    spiffe_refresh_hint: number;
  }> {
    return this.#call('GET', '/v1/bundle', undefined, false);
  }

  revocations(after: number, waitMs: number): Promise<{ sequence: number; entries: RevocationFeedEntry[] }> {
    return this.#call('GET', `/v1/revocations?after=${after}&waitMs=${waitMs}`, undefined, true, waitMs);
  }

  register(host: string, port: number): Promise<{ id: string; ttlSeconds: number }> {
    return this.#call('POST', '/v1/instances', { host, port }, true);
  }

  heartbeat(id: string): Promise<void> {
    return this.#call('POST', `/v1/instances/${encodeURIComponent(id)}/heartbeat`, undefined, true);
  }

  deregister(id: string): Promise<void> {
    return this.#call('DELETE', `/v1/instances/${encodeURIComponent(id)}`, undefined, true);
  }

  async resolve(service: string): Promise<ResolvedInstance[]> {
    const res = await this.#call<{ instances: ResolvedInstance[] }>(
      'GET',
      `/v1/services/${encodeURIComponent(service)}/instances`,
      undefined,
      true,
    );
    return res.instances;
  }

  async close(): Promise<void> {
    // destroy, not close: a long-polling revocation request must not hold the shutdown open.
    await this.#anonymous.destroy();
    await this.#agent?.agent.destroy();
  }

  #dispatcher(withIdentity: boolean): Agent {
    const credentials = this.#credentials;
    if (!withIdentity || !credentials) return this.#anonymous;
    if (this.#agent?.generation !== credentials.generation) {
      void this.#agent?.agent.close();
      const m = credentials.material;
      this.#agent = {
        generation: credentials.generation,
        agent: new Agent({
          connect: {
            ca: [this.#o.authorityCa, ...m.bundle],
            cert: m.certChain,
            key: m.key,
            checkServerIdentity: AUTHORITY,
            timeout: this.#o.timeoutMs ?? 5000,
          },
        }),
      };
    }
    return this.#agent.agent;
  }

  async #call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body: unknown,
    withIdentity: boolean,
    extraMs = 0,
  ): Promise<T> {
    const timeout = (this.#o.timeoutMs ?? 5000) + extraMs;
    const res = await request(new URL(path, this.#o.url), {
      method,
      dispatcher: this.#dispatcher(withIdentity),
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    if (res.statusCode === 204) {
      await res.body.dump();
      return undefined as T;
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let problem: { code?: string; detail?: string } = {};
      try {
        problem = JSON.parse(text);
      } catch {}
      // Keep the authority's stable code so callers can match on it.
      throw new BulwarkError(
        {
          code: problem.code ?? 'upstream_unavailable',
          status: res.statusCode,
          title: 'authority refused',
          doc: 'authority',
        },
        `authority answered ${res.statusCode} ${problem.code ?? ''}: ${problem.detail ?? ''}`.trim(),
      );
    }
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw coreError('upstream_unavailable', 'authority sent a malformed answer', { cause });
    }
  }
}
