/**
 * Outbound: one plain-HTTP listener on loopback per upstream service. The application calls
 * `http://127.0.0.1:<port>/path`; the sidecar makes the call over mTLS to a healthy instance of that
 * service (see {@link UpstreamCluster}) and streams the answer back.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { IDEMPOTENT_METHODS } from '../core/http/methods.ts';
import { asBulwarkError, coreError, toProblem } from '../core/index.ts';
import type { MeshMetrics } from '../sdk/mesh/mesh-metrics.ts';
import { forwardHeaders, isOriginForm } from './hop-headers.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';

/** Bodies of idempotent requests are buffered (so they can be retried) up to this size. */
const MAX_BUFFERED_BODY = 1024 * 1024;

export function outboundServer(
  service: string,
  cluster: UpstreamCluster,
  identityHeader: string,
  metrics?: MeshMetrics,
): Server {
  const server = createServer((req, res) => {
    void forward(req, res).catch((err) => {
      const error = asBulwarkError(err);
      metrics?.requests.inc({ direction: 'outbound', status: String(error.status) });
      if (res.headersSent) return void res.destroy();
      const body = JSON.stringify(toProblem(error, (req.url ?? '/').split('?')[0]));
      res.writeHead(error.status, {
        'content-type': 'application/problem+json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  // The app's connections to this loopback port stay open between calls as the mesh's do (Node's 5 s
  // default made a busy app reconnect every few seconds, each time on the request path).
  server.keepAliveTimeout = 65_000;
  return server;

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    if (!isOriginForm(req.url))
      throw coreError('invalid_request', 'request targets must be in origin form (/path)');
    const body = IDEMPOTENT_METHODS.has(method) ? await buffered(req) : req;
    const upstream = await cluster.call({
      method,
      path: req.url ?? '/',
      // The application cannot speak for the identity: only the receiving sidecar sets that header.
      headers: forwardHeaders(req.headers, [identityHeader]) as Record<string, string>,
      ...(body === undefined ? {} : { body }),
    });
    res.writeHead(upstream.statusCode, forwardHeaders(upstream.headers as Record<string, string>));
    upstream.body.pipe(res);
    upstream.body.once('end', () => {
      metrics?.upstreamSeconds.observe({ service }, (performance.now() - started) / 1000);
      metrics?.requests.inc({ direction: 'outbound', status: String(upstream.statusCode) });
    });
  }
}

async function buffered(req: IncomingMessage): Promise<Buffer | IncomingMessage | undefined> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (!req.headers['transfer-encoding'] && length === 0) return undefined;
  if (length > MAX_BUFFERED_BODY) return req;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BUFFERED_BODY) throw new RangeError('request body too large to buffer');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
