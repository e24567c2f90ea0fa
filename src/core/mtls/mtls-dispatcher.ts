/**
 * An undici dispatcher that originates mutual TLS with the workload's current SVID and accepts a server
 * only when its X.509-SVID names an expected SPIFFE ID (hostname checks do not apply: SVIDs carry no DNS
 * names). A rotation of the holder takes effect on the next new connection; pooled connections keep the
 * identity they were established with until they close.
 */
import type { PeerCertificate } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { mtlsError } from './errors.ts';
import { type PeerRequirements, verifiedCertificate } from './peer-identity.ts';
import type { RotatingCredentials } from './rotating-credentials.ts';

export interface MtlsDispatcherOptions extends PeerRequirements {
  /** The server SPIFFE IDs this client may talk to (normally the one service it calls). */
  authorizeServer: (spiffeId: string) => boolean;
  connectTimeoutMs?: number;
  /** Extra undici Agent options (pool size, keep-alive...). */
  agent?: Omit<Agent.Options, 'connect'>;
}

/**
 * @example
 * const dispatcher = mtlsDispatcher(credentials, {
 *   trustDomains: new Set(['bulwark.local']),
 *   authorizeServer: (id) => id === 'spiffe://bulwark.local/service/payments',
 * });
 * await fetch('https://127.0.0.1:8443/pay', { dispatcher });
 */
export function mtlsDispatcher(credentials: RotatingCredentials, options: MtlsDispatcherOptions): Agent {
  return new Agent({ ...options.agent, connect: mtlsConnector(credentials, options) });
}

/**
 * The connector behind {@link mtlsDispatcher}, for an undici Pool or Client of one origin (the gateway's
 * upstream pools): new connections use the current SVID and accept only an authorised server SVID.
 */
export function mtlsConnector(
  credentials: RotatingCredentials,
  options: Omit<MtlsDispatcherOptions, 'agent'>,
): buildConnector.connector {
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    try {
      const peer = verifiedCertificate(cert, options);
      if (!options.authorizeServer(peer.spiffeId.uri)) {
        return mtlsError('mesh_peer_forbidden', `the server ${peer.spiffeId.uri} is not the one expected`);
      }
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
  const build = () =>
    buildConnector({
      secureContext: credentials.secureContext,
      minVersion: credentials.minVersion,
      checkServerIdentity,
      rejectUnauthorized: true,
      timeout: options.connectTimeoutMs ?? 5000,
      // Session resumption would skip checkServerIdentity for a server whose SVID was since revoked.
      maxCachedSessions: 0,
    } as buildConnector.BuildOptions);
  let generation = credentials.generation;
  let connector = build();
  return (connectOptions, callback) => {
    if (generation !== credentials.generation) {
      generation = credentials.generation;
      connector = build();
    }
    connector(connectOptions, callback);
  };
}
