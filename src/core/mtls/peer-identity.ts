/**
 * The verified identity of the peer on a TLS connection. TLS has checked the chain against the trust
 * bundle; this applies the X.509-SVID rules, the trust domain and revocation. The certificate is parsed
 * once per connection; revocation is checked on every call, so a revoked workload on a kept-alive
 * connection is refused on its next request, not only on its next handshake.
 */
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { mtlsError } from './errors.ts';
import { type SpiffeId, serviceNameOf } from './spiffe-id.ts';
import { inspectX509Svid, type SvidFacts } from './x509-svid.ts';

export type PeerIdentity = SvidFacts;

/** Revocation as the authority publishes it: a serial, or a SPIFFE ID revoked outright. */
export interface RevocationCheck {
  isRevoked(serial: string, spiffeId: string): boolean;
}

export interface PeerRequirements {
  /** Trust domains whose IDs are accepted (normally just the own one). */
  trustDomains: ReadonlySet<string>;
  revocations?: RevocationCheck;
}

const parsed = new WeakMap<TLSSocket, SvidFacts | Error>();

/**
 * Returns the peer's verified identity or throws a `mesh_*` error saying why it is refused
 * (`mesh_peer_unauthenticated`, `mesh_svid_invalid`, `mesh_peer_wrong_trust_domain`, `mesh_peer_revoked`).
 *
 * @example
 * const peer = verifiedPeer(req.socket as TLSSocket, { trustDomains: new Set(['bulwark.local']) });
 * peer.spiffeId.uri; // 'spiffe://bulwark.local/service/orders'
 */
export function verifiedPeer(socket: TLSSocket, requirements: PeerRequirements): PeerIdentity {
  let facts = parsed.get(socket);
  if (!facts) {
    facts = inspectSocket(socket);
    parsed.set(socket, facts);
  }
  if (facts instanceof Error) throw facts;
  checkFacts(facts, requirements);
  return facts;
}

/** The same rules for a certificate seen by a client (`checkServerIdentity` gets a PeerCertificate). */
export function verifiedCertificate(cert: PeerCertificate, requirements: PeerRequirements): PeerIdentity {
  if (!cert?.raw) throw mtlsError('mesh_peer_unauthenticated', 'the peer presented no certificate');
  const facts = inspectX509Svid(cert.raw);
  checkFacts(facts, requirements);
  return facts;
}

/**
 * `checkServerIdentity` for a client that calls one Bulwark component by URL, trusting the mesh root (the
 * CLI's admin calls, a workload's calls to authority). Every SVID chains to that root and components' SVIDs
 * carry the same loopback host names, so a host name alone would let any component's certificate stand in
 * for authority or identity: a certificate with a SPIFFE ID must be `service`'s. Without one (a plain
 * server certificate from the local CA, a component run alone) it gets the host name check, unless
 * `svidRequired`.
 *
 * @example
 * new Agent({ connect: { ca, checkServerIdentity: componentServerCheck('authority', true) } });
 */
export function componentServerCheck(
  service: string,
  svidRequired: boolean,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    if (!/URI:spiffe:\/\//i.test(cert.subjectaltname ?? '')) {
      return svidRequired
        ? mtlsError('mesh_peer_forbidden', `the server presented no SVID; ${service} serves with one`)
        : checkServerIdentity(host, cert);
    }
    try {
      const id = inspectX509Svid(cert.raw).spiffeId;
      return serviceNameOf(id) === service
        ? undefined
        : mtlsError('mesh_peer_forbidden', `the server ${id.uri} is not ${service}`);
    } catch (err) {
      return err as Error;
    }
  };
}

function inspectSocket(socket: TLSSocket): SvidFacts | Error {
  // `authorized` is true only when OpenSSL verified the chain to one of our roots (and validity dates).
  if (!socket.authorized) {
    const why = socket.authorizationError ? String(socket.authorizationError) : 'no client certificate';
    return mtlsError('mesh_peer_unauthenticated', `the peer is not authenticated: ${why}`);
  }
  const cert = socket.getPeerCertificate();
  if (!cert?.raw) return mtlsError('mesh_peer_unauthenticated', 'the peer presented no certificate');
  try {
    return inspectX509Svid(cert.raw);
  } catch (err) {
    return err as Error;
  }
}

function checkFacts(facts: SvidFacts, requirements: PeerRequirements): void {
  const id: SpiffeId = facts.spiffeId;
  // X509-SVID.md §5.2: the SPIFFE ID's trust domain must match the bundle the chain was validated with.
  if (!requirements.trustDomains.has(id.trustDomain)) {
    throw mtlsError('mesh_peer_wrong_trust_domain', `trust domain ${id.trustDomain} is not accepted here`);
  }
  if (requirements.revocations?.isRevoked(facts.serial, id.uri)) {
    throw mtlsError('mesh_peer_revoked', `the certificate of ${id.uri} has been revoked`);
  }
}
