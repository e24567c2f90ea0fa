/**
 * An HTTPS server that only speaks mTLS with X.509-SVIDs. Each connection's peer is verified (chain to
 * the bundle by TLS, then the SVID rules, trust domain and revocation); each request re-checks revocation
 * and asks the service-to-service policy whether the caller may call this service. The policy decides on
 * the canonical request target and the handler is given that same target (also as `req.url`), never the
 * raw one; a target that cannot be canonicalised safely is refused with 400. Handlers get the verified peer
 * identity; refusals are answered with problem+json, counted and audited.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import {
  type AuditSink,
  asBulwarkError,
  type Clock,
  coreError,
  systemClock,
  toProblem,
} from '../../core/index.ts';
import { mtlsError, mtlsServerOptions, type PeerIdentity, verifiedPeer } from '../../core/mtls/index.ts';
import { type DecidedTarget, meshTarget } from './canonical-path.ts';
import type { MeshIdentity } from './mesh-identity.ts';
import type { MeshMetrics } from './mesh-metrics.ts';
import type { ServicePolicy } from './service-policy.ts';

/**
 * Serves one allowed request. `req.url` has been replaced by `target.url`, the canonical target the policy
 * allowed: route on it (or forward it) and nothing else.
 */
export type MeshHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  peer: PeerIdentity,
  target: DecidedTarget,
) => void | Promise<void>;

export interface MeshServerOptions {
  identity: MeshIdentity;
  /** The service-to-service policy; every caller is checked against it (no policy loaded = deny). */
  policy: ServicePolicy;
  handler: MeshHandler;
  /** Where denials go (component `sidecar` or the SDK user's name in `source.component`). */
  audit?: AuditSink;
  metrics?: MeshMetrics;
  clock?: Clock;
  component?: string;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Idle keep-alive timeout of inbound connections. */
  keepAliveTimeoutMs?: number;
}

/**
 * @example
 * const server = createMeshServer({ identity, policy, handler: (req, res, peer) => res.end(peer.spiffeId.uri) });
 * server.listen(8443, '127.0.0.1');
 */
export function createMeshServer(options: MeshServerOptions): Server {
  const { identity, metrics, audit } = options;
  const clock = options.clock ?? systemClock;
  const component = options.component ?? 'mesh-sdk';
  const requirements = { trustDomains: new Set([identity.trustDomain]), revocations: identity.revocations };
  options.policy.warm(identity.spiffeId);

  const deny = (reason: string, ip: string | undefined, actor: string, detail?: Record<string, unknown>) => {
    metrics?.denials.inc({ reason });
    audit?.record({
      actor: { type: actor.startsWith('spiffe://') ? 'service' : 'system', id: actor },
      action: 'mesh.call',
      target: { type: 'service', id: identity.spiffeId },
      outcome: 'failure',
      reason,
      source: { component, ...(ip ? { ip } : {}) },
      ...(detail ? { details: detail } : {}),
    });
  };

  const server = createServer(
    { ...mtlsServerOptions(identity.credentials.material, { minVersion: options.minVersion ?? 'TLSv1.2' }) },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const ip = socket.remoteAddress ?? '';
      let peer: PeerIdentity;
      try {
        peer = verifiedPeer(socket, requirements);
      } catch (err) {
        const error = asBulwarkError(err);
        deny(error.code, ip, 'unknown');
        return refuse(res, error);
      }
      // Health for any workload of the trust domain (the operator's `bulwark status`, a supervisor): it says
      // the server is up and reveals nothing the policy guards, so it is answered before the policy.
      if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        return res.end('{"status":"ok"}');
      }
      // Canonicalised once: the policy and the handler see the very same target (RFC 3986 §6.2.2).
      const canonical = meshTarget(req.url);
      if (!canonical.ok) {
        // Not echoed back nor audited verbatim: the raw target is attacker-chosen.
        deny('path_rejected', ip, peer.spiffeId.uri, { method: req.method, pathRejection: canonical.reason });
        return refuse(
          res,
          coreError('invalid_request', `the request path is refused (${canonical.reason})`, {
            details: { reason: canonical.reason },
          }),
        );
      }
      const { target } = canonical;
      const path = target.path;
      const decision = options.policy.authorize({
        caller: peer.spiffeId.uri,
        callee: identity.spiffeId,
        method: req.method ?? 'GET',
        path,
        sourceIp: ip,
        at: clock.now(),
      });
      if (decision.decision !== 'allow') {
        deny('mesh_peer_forbidden', ip, peer.spiffeId.uri, {
          method: req.method,
          path,
          bundle: decision.bundle,
        });
        return refuse(
          res,
          mtlsError('mesh_peer_forbidden', `${peer.spiffeId.uri} may not call ${identity.spiffeId}`),
          path,
        );
      }
      metrics?.requests.inc({ direction: 'inbound', status: 'allowed' });
      req.url = target.url;
      Promise.resolve(options.handler(req, res, peer, target)).catch((err) => {
        if (!res.headersSent) refuse(res, asBulwarkError(err), path);
        else res.destroy();
      });
    },
  );
  // Mesh peers are few and long-lived: keeping their connections open saves a handshake per burst.
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
  const detach = identity.credentials.attach(server);
  server.once('close', detach);

  server.on('secureConnection', (socket: TLSSocket) => {
    try {
      verifiedPeer(socket, requirements);
      metrics?.handshakes.inc({ direction: 'inbound', result: 'ok' });
    } catch (err) {
      // The chain was fine for TLS but the certificate is not an acceptable SVID: drop the connection
      // before any byte of HTTP is read.
      const code = asBulwarkError(err).code;
      metrics?.handshakes.inc({ direction: 'inbound', result: code });
      deny(code, socket.remoteAddress, 'unknown');
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = handshakeReason(err);
    metrics?.handshakes.inc({ direction: 'inbound', result: reason });
    deny(reason, socket.remoteAddress, 'unknown');
  });
  return server;
}

/** A bounded set of handshake failure reasons (metric labels must not take attacker-chosen values). */
function handshakeReason(err: NodeJS.ErrnoException): string {
  const text = `${err.code ?? ''} ${err.message ?? ''}`.toLowerCase();
  if (text.includes('did not return a certificate') || text.includes('peer_did_not_return'))
    return 'no_certificate';
  if (text.includes('expired')) return 'certificate_expired';
  if (text.includes('certificate') || text.includes('unknown ca') || text.includes('verify'))
    return 'certificate_untrusted';
  if (text.includes('version') || text.includes('protocol')) return 'protocol_refused';
  if (text.includes('cipher') || text.includes('shared')) return 'cipher_refused';
  return 'handshake_failed';
}

/** `instance` is the canonical path when there is one; a raw, refused target is never reflected. */
function refuse(res: ServerResponse, error: ReturnType<typeof asBulwarkError>, instance?: string): void {
  const body = JSON.stringify(toProblem(error, instance));
  res.writeHead(error.status, {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    connection: 'close',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
