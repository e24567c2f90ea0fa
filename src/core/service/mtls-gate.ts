/**
 * The mTLS side of a component's listener. The listener serves the component's SVID and asks every client
 * for its certificate; each request is then let through only when its peer is a valid, unrevoked SVID of
 * the trust domain that the component accepts. The certificate is requested, not required, at the
 * handshake for one reason: a few routes exist for callers that cannot have an SVID (health probes,
 * browsers at identity's OpenID Connect pages, a workload attesting with its join token), and a refused
 * handshake could not say why. Every other route answers 401/403 before any component code runs.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mtlsError } from '../mtls/errors.ts';
import { type PeerIdentity, type RevocationCheck, verifiedPeer } from '../mtls/peer-identity.ts';
import type { RotatingCredentials } from '../mtls/rotating-credentials.ts';

/** What a component serves mTLS with: its rotating SVID, the revocations it follows, its trust domain. */
export interface ServingIdentity {
  readonly credentials: RotatingCredentials;
  readonly revocations: RevocationCheck;
  readonly trustDomain: string;
  readonly spiffeId: string;
}

export interface ServiceMtls {
  identity: ServingIdentity;
  /**
   * Route prefixes served to callers without a client certificate (matched against the route template,
   * after routing, so no encoding trick moves a request into them). `/healthz` and `/readyz` always are.
   */
  publicPaths?: readonly string[];
  /** Whether an authenticated peer may call this component at all. Default: any SVID of the trust domain. */
  authorizeCaller?: (peer: PeerIdentity) => boolean;
}

const PROBES = ['/healthz', '/readyz'];
const peers = new WeakMap<object, PeerIdentity>();

/**
 * The verified SPIFFE identity of the caller of `req`, when it presented one. On protected routes it is
 * always there (the request would have been refused otherwise).
 *
 * @example
 * app.post('/v1/encrypt', async (req) => keys.encrypt(callerOf(req)?.spiffeId.uri, req.body));
 */
export function callerOf(req: FastifyRequest): PeerIdentity | undefined {
  return peers.get(req.raw);
}

export function installMtlsGate(app: FastifyInstance, mtls: ServiceMtls): void {
  const { identity } = mtls;
  const requirements = {
    trustDomains: new Set([identity.trustDomain]),
    revocations: identity.revocations,
  };
  const open = [...PROBES, ...(mtls.publicPaths ?? [])];
  const isOpen = (route: string | undefined) =>
    route !== undefined && open.some((p) => route === p || route.startsWith(p.endsWith('/') ? p : `${p}/`));
  app.addHook('onRequest', async (req) => {
    const socket = req.raw.socket as TLSSocket;
    if (isOpen(req.routeOptions.url)) {
      // A public route still learns who calls when the caller presents a valid SVID.
      if (socket.authorized) {
        try {
          peers.set(req.raw, verifiedPeer(socket, requirements));
        } catch {}
      }
      return;
    }
    const peer = verifiedPeer(socket, requirements);
    if (mtls.authorizeCaller && !mtls.authorizeCaller(peer)) {
      throw mtlsError('mesh_peer_forbidden', `${peer.spiffeId.uri} may not call this component`);
    }
    peers.set(req.raw, peer);
  });
}
