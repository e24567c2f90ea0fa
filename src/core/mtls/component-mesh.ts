/**
 * A Bulwark component as a member of its own mesh: it attests once with the join token `bulwark up` gave
 * it, renews its SVID at half-life, follows the trust bundle and the revocation feed (WorkloadIdentity),
 * serves that SVID, and calls the other components over mutual TLS, checking that the server is the
 * component it meant to call.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import type { BulwarkConfig } from '../config/types.ts';
import type { Logger } from '../log/index.ts';
import { AuthorityClient } from './authority-client.ts';
import { mtlsDispatcher } from './mtls-dispatcher.ts';
import type { PeerRequirements, RevocationCheck } from './peer-identity.ts';
import type { RevocationSet } from './revocation-set.ts';
import type { RotatingCredentials } from './rotating-credentials.ts';
import { serviceSpiffeId } from './spiffe-id.ts';
import { WorkloadIdentity } from './workload-identity.ts';

/** The environment variable that carries a component's one-time join token. */
export const JOIN_TOKEN_ENV = 'MESH_JOIN_TOKEN';

export interface ComponentMesh {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly credentials: RotatingCredentials;
  readonly revocations: RevocationSet;
  /** What a peer must satisfy: this trust domain, not revoked. */
  readonly requirements: PeerRequirements;
  /** An undici dispatcher that calls the Bulwark component `name` over mTLS and accepts only its SVID. */
  dispatcher(name: string): Dispatcher;
  /** The SPIFFE ID of the Bulwark component `name` in this trust domain. */
  spiffeIdOf(name: string): string;
  /**
   * Registers the component's listener in authority's service registry and keeps it alive with
   * heartbeats, so that sidecars and SDKs resolve it by name; it is removed again on close.
   */
  register(url: string): Promise<void>;
  /** The base URL of a healthy instance of the service `name` from the registry, if any. */
  resolve(name: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** The root that authority's listener chains to: the configured CA file, else the local CA. */
export function authorityCaFile(config: BulwarkConfig): string {
  return config.server.tls.caFile ?? join(config.home, 'tls', 'ca.crt');
}

/**
 * The host names and addresses a component's SVID carries besides its SPIFFE ID, so that clients that check
 * host names (browsers, curl, status probes) accept the same certificate: the listen host unless it is a
 * wildcard, loopback, and `mesh.hosts`.
 */
export function serverHosts(config: BulwarkConfig): string[] {
  const wildcard = ['0.0.0.0', '::', ''];
  const host = config.server.host;
  return [
    ...new Set([...(wildcard.includes(host) ? [] : [host]), '127.0.0.1', 'localhost', ...config.mesh.hosts]),
  ];
}

/**
 * Reads (and removes from the environment, so no child process inherits it) the join token, if any.
 */
export function takeJoinToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env[JOIN_TOKEN_ENV];
  delete env[JOIN_TOKEN_ENV];
  return token || undefined;
}

/**
 * @example
 * const mesh = await joinComponentMesh(config, token, logger);
 * await request(auditUrl, { dispatcher: mesh.dispatcher('audit') });
 */
export async function joinComponentMesh(
  config: BulwarkConfig,
  joinToken: string,
  logger: Logger,
): Promise<ComponentMesh> {
  const url = config.mesh.authorityUrl;
  if (!url) throw new TypeError('mesh.authorityUrl is not set');
  const caFile = authorityCaFile(config);
  if (!existsSync(caFile)) throw new TypeError(`the authority's CA certificate ${caFile} does not exist`);
  const authority = new AuthorityClient({ url, authorityCa: readFileSync(caFile, 'utf8') });
  const identity = await WorkloadIdentity.join({
    authority,
    joinToken,
    minVersion: config.server.tls.minVersion,
    onError: (err) => logger.warn({ err: err as Error }, 'mesh identity upkeep failed; retrying'),
  });
  const requirements: PeerRequirements = {
    trustDomains: new Set([identity.trustDomain]),
    revocations: identity.revocations,
  };
  const spiffeIdOf = (name: string) => serviceSpiffeId(identity.trustDomain, name);
  const agents = new Map<string, Dispatcher>();
  let registration: { id: string; timer: NodeJS.Timeout } | undefined;
  return {
    spiffeId: identity.spiffeId,
    trustDomain: identity.trustDomain,
    credentials: identity.credentials,
    revocations: identity.revocations,
    requirements,
    spiffeIdOf,
    dispatcher(name) {
      let agent = agents.get(name);
      if (!agent) {
        agent = componentDispatcher(identity, name);
        agents.set(name, agent);
      }
      return agent;
    },
    async register(listenUrl) {
      const { hostname, port } = new URL(listenUrl);
      const host = hostname.replace(/^\[|\]$/g, '');
      const { id, ttlSeconds } = await authority.register(host, Number(port));
      // Three heartbeats per TTL: one lost beat does not take the instance out of the registry.
      const timer = setInterval(
        () => {
          authority
            .heartbeat(id)
            .catch((err) => logger.warn({ err: err as Error }, 'registry heartbeat failed'));
        },
        Math.max(1000, (ttlSeconds * 1000) / 3),
      ).unref();
      registration = { id, timer };
    },
    async resolve(name) {
      const healthy = (await authority.resolve(name)).filter((i) => i.healthy);
      const pick = healthy[Math.floor(Math.random() * healthy.length)];
      if (!pick) return undefined;
      const host = pick.host.includes(':') ? `[${pick.host}]` : pick.host;
      return `https://${host}:${pick.port}`;
    },
    async close() {
      if (registration) {
        clearInterval(registration.timer);
        await authority.deregister(registration.id).catch(() => undefined);
      }
      await Promise.all([...agents.values()].map((a) => a.destroy()));
      await identity.close();
    },
  };
}

/**
 * An mTLS dispatcher with `identity`'s SVID that accepts only the Bulwark component `name` of the same
 * trust domain as the server.
 */
export function componentDispatcher(
  identity: { credentials: RotatingCredentials; trustDomain: string; revocations: RevocationCheck },
  name: string,
): Dispatcher {
  const expected = serviceSpiffeId(identity.trustDomain, name);
  return mtlsDispatcher(identity.credentials, {
    trustDomains: new Set([identity.trustDomain]),
    revocations: identity.revocations,
    authorizeServer: (id) => id === expected,
  });
}
