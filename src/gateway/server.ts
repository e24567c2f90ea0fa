/**
 * The public listener: node:http2 over TLS (HTTP/2 and HTTP/1.1 by ALPN), or node:http without TLS, with
 * the strict HTTP/1.1 parser (no lenient flags: CL+TE, obs-fold, whitespace before the colon, bare CR/LF
 * and NUL are parse errors), bounded header size and count, and deadlines against slowloris. A parse
 * error is answered with a bare 400/408/431 and the connection is closed, never passed upstream.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { secureContextOptions } from '../core/index.ts';
import type { GatewayRuntime } from './runtime.ts';

export interface ListenerLimits {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** The public listener: node:http, or node:http2 with HTTP/1.1 fallback when TLS is on. */
export type PublicServer = net.Server & {
  closeAllConnections?: () => void;
  closeIdleConnections?: () => void;
};

export interface ListenerTls {
  cert: string;
  key: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

export function createListener(
  runtime: GatewayRuntime,
  handler: http.RequestListener,
  limits: ListenerLimits,
  tls: ListenerTls | undefined,
): PublicServer {
  const options: http.ServerOptions = {
    insecureHTTPParser: false,
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: 500,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    // One more than the limit, so an over-long list is seen (and refused) rather than silently cut.
    maxHeadersCount: runtime.maxHeaders + 1,
  } as http.ServerOptions;
  // Over TLS: HTTP/2 and HTTP/1.1 on one port (ALPN). The HTTP/1.1 fallback keeps the strict parser, the
  // header size limit, the deadlines and clientError (checked by the tests). Without TLS: HTTP/1.1 only.
  const server: PublicServer = tls
    ? (http2.createSecureServer(
        {
          ...(options as object),
          ...secureContextOptions(tls.minVersion),
          cert: tls.cert,
          key: tls.key,
          allowHTTP1: true,
          // RFC 9113 §6.5.2 limits, and node's defences against stream floods (CVE-2023-44487 rapid reset).
          settings: { maxConcurrentStreams: 100, maxHeaderListSize: limits.maxHeaderBytes },
          maxSessionInvalidFrames: 100,
          maxSessionRejectedStreams: 100,
          unknownProtocolTimeout: 5_000,
        } as http2.SecureServerOptions,
        handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
      ) as unknown as PublicServer)
    : http.createServer(options, handler);
  if (tls)
    server.on('session', (session: http2.ServerHttp2Session) => guardSession(session, runtime, limits));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    runtime.metrics.denial('parse', 'unmatched');
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    const reply = `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
    const inProgress = (socket as { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (inProgress) {
      // The parser failed after the request head was accepted (e.g. a body with a bad Transfer-Encoding):
      // let the refusal already queued by the pipeline go out, then close; the rest is never parsed.
      setImmediate(() => {
        if (!inProgress.headersSent && socket.writable) socket.end(reply);
        else socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
      return;
    }
    if (socket.writable) socket.end(reply);
    socket.destroy();
  });
  return server;
}

/** Client stream resets tolerated per session and second before the session is dropped. */
export const RAPID_RESET_LIMIT = 100;

/**
 * HTTP/2 session hygiene: an idle or stalled session is closed like an HTTP/1.1 connection (slowloris
 * over h2), and a client that resets streams faster than {@link RAPID_RESET_LIMIT} a second before they
 * are answered (CVE-2023-44487 "rapid reset") gets GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §7) and is cut off.
 */
function guardSession(
  session: http2.ServerHttp2Session,
  runtime: GatewayRuntime,
  limits: ListenerLimits,
): void {
  session.setTimeout(limits.requestTimeoutMs, () => session.close());
  let windowStart = runtime.clock.now();
  let resets = 0;
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    stream.once('close', () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_CANCEL || stream.headersSent) return;
      const now = runtime.clock.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        resets = 0;
      }
      if (++resets === RAPID_RESET_LIMIT + 1) {
        runtime.metrics.denial('parse', 'unmatched');
        runtime.logger.warn({ resets }, 'HTTP/2 rapid reset: closing the session');
        session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        session.destroy();
      }
    });
  });
}
