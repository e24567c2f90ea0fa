/**
 * Turns a TLS server (node:https, or fastify's `app.server`) into an mTLS listener that only talks to
 * workloads it may talk to: it follows the workload's rotating credentials, drops every connection whose
 * peer is not a valid, unrevoked SVID of an accepted trust domain authorised by `authorize`, and reports
 * each refusal (for metrics and audit). Create the server with {@link mtlsServerOptions} first.
 */
import type { Server, TLSSocket } from 'node:tls';
import { BulwarkError } from '../errors.ts';
import { mtlsError } from './errors.ts';
import { type PeerIdentity, type PeerRequirements, verifiedPeer } from './peer-identity.ts';
import type { RotatingCredentials } from './rotating-credentials.ts';

export interface MtlsListenerOptions extends PeerRequirements {
  credentials: RotatingCredentials;
  /** Which SPIFFE IDs may connect at all (e.g. an allow-list, or a Cedar `call` check). Default: any. */
  authorize?: (peer: PeerIdentity) => boolean;
  /** Told about every refused connection: the code and, when known, the peer. */
  onRefused?: (code: string, socket: TLSSocket, peer?: PeerIdentity) => void;
}

/**
 * @example
 * const app = Fastify({ https: mtlsServerOptions(identity.credentials.material) });
 * enforceMtls(app.server, { credentials: identity.credentials, trustDomains: new Set([td]),
 *   revocations: identity.revocations, authorize: (p) => allowed.has(p.spiffeId.uri) });
 * // in a route: const peer = verifiedPeer(req.raw.socket as TLSSocket, requirements);
 */
export function enforceMtls(server: Server, options: MtlsListenerOptions): () => void {
  const detach = options.credentials.attach(server);
  const onSecure = (socket: TLSSocket) => {
    let peer: PeerIdentity | undefined;
    try {
      peer = verifiedPeer(socket, options);
      if (options.authorize && !options.authorize(peer)) {
        throw mtlsError('mesh_peer_forbidden', `${peer.spiffeId.uri} may not connect`);
      }
    } catch (err) {
      options.onRefused?.(err instanceof BulwarkError ? err.code : 'mesh_svid_invalid', socket, peer);
      socket.destroy();
    }
  };
  const onClientError = (err: Error, socket: TLSSocket) => {
    options.onRefused?.(
      /certificate/i.test(err.message) ? 'mesh_peer_unauthenticated' : 'tls_handshake_failed',
      socket,
    );
  };
  server.on('secureConnection', onSecure);
  server.on('tlsClientError', onClientError);
  return () => {
    detach();
    server.off('secureConnection', onSecure);
    server.off('tlsClientError', onClientError);
  };
}
