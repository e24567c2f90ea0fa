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
  const identity = await WorkloadIdentity.join({
    authority: new AuthorityClient({ url, authorityCa: readFileSync(caFile, 'utf8') }),
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
    async close() {
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
