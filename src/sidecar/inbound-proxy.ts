/**
 * Inbound: the mesh server has verified the caller's SVID and the service-to-service policy; this
 * forwards the request to the local application on loopback, with the verified SPIFFE ID in the identity
 * header. The header is set by the sidecar only: any copy the caller sent is dropped first, so the
 * application can trust it (it must listen on loopback only, where nothing else can reach it). The
 * request goes to the app with the canonical target the policy decided on, not the one the caller sent,
 * so the app's router cannot read a path the policy never saw (`/%61dmin`, `/x/../admin`).
 */
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { asBulwarkError, toProblem } from '../core/index.ts';
import type { PeerIdentity } from '../core/mtls/index.ts';
import type { DecidedTarget, MeshHandler } from '../sdk/mesh/index.ts';
import { sidecarError } from './errors.ts';
import { forwardHeaders, isOriginForm } from './hop-headers.ts';

export interface InboundOptions {
  appHost: string;
  appPort: number;
  identityHeader: string;
  timeoutMs: number;
}

export function inboundProxy(options: InboundOptions): { handler: MeshHandler; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const handler = (req: IncomingMessage, res: ServerResponse, peer: PeerIdentity, target: DecidedTarget) => {
    if (!isOriginForm(target.url)) {
      res.writeHead(400, { connection: 'close' }).end();
      return;
    }
    const headers = forwardHeaders(req.headers, [options.identityHeader]);
    headers[options.identityHeader] = peer.spiffeId.uri;
    const upstream = request(
      {
        host: options.appHost,
        port: options.appPort,
        method: req.method,
        path: target.url,
        headers,
        agent,
        timeout: options.timeoutMs,
      },
      (appRes) => {
        res.writeHead(appRes.statusCode ?? 502, forwardHeaders(appRes.headers));
        appRes.pipe(res);
      },
    );
    upstream.on('timeout', () =>
      upstream.destroy(sidecarError('sidecar_app_unavailable', 'the application timed out')),
    );
    upstream.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      const error = asBulwarkError(
        err instanceof Error && 'code' in err && String(err.code).startsWith('sidecar_')
          ? err
          : sidecarError('sidecar_app_unavailable', 'the application did not answer', { cause: err }),
      );
      const body = JSON.stringify(toProblem(error, target.path));
      res.writeHead(error.status, {
        'content-type': 'application/problem+json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
    req.pipe(upstream);
  };
  return { handler, close: () => agent.destroy() };
}
