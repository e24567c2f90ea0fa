/**
 * The public listener: node:http2 over TLS (HTTP/2 and HTTP/1.1 by ALPN), or without TLS node:http, with
 * HTTP/2 by prior knowledge (h2c) beside it when asked for. HTTP/1.1 always runs on the strict parser (no
 * lenient flags: CL+TE, obs-fold, whitespace before the colon, bare CR/LF and NUL are parse errors), with
 * bounded header size and count and deadlines against slowloris. A parse error is answered with a bare
 * 400/408/431 and the connection is closed, never passed upstream.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { secureContextOptions } from '../core/index.ts';
import type { GatewayRuntime } from './runtime.ts';

export interface ListenerLimits {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** The public listener: node:http, node:http2 with HTTP/1.1 fallback when TLS is on, or a front for both (h2c). */
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
  h2c = false,
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
  const h2Handler = handler as unknown as (
    req: http2.Http2ServerRequest,
    res: http2.Http2ServerResponse,
  ) => void;
  if (!tls) {
    const http1 = http.createServer(options, handler);
    http1.on('clientError', refuseMalformed(runtime));
    if (!h2c) return http1;
    const cleartext = http2.createServer(sessionOptions(limits), h2Handler);
    cleartext.on('session', (session: http2.ServerHttp2Session) => guardSession(session, runtime, limits));
    return byPreface(http1, cleartext, limits.headersTimeoutMs);
  }
  // Over TLS: HTTP/2 and HTTP/1.1 on one port (ALPN). The HTTP/1.1 fallback keeps the strict parser, the
  // header size limit, the deadlines and clientError (checked by the tests).
  const server = http2.createSecureServer(
    {
      ...(options as object),
      ...sessionOptions(limits),
      ...secureContextOptions(tls.minVersion),
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
    } as http2.SecureServerOptions,
    h2Handler,
  ) as unknown as PublicServer;
  server.prependListener('secureConnection', markConnection);
  server.on('session', (session: http2.ServerHttp2Session) => guardSession(session, runtime, limits));
  server.on('clientError', refuseMalformed(runtime));
  return server;
}

/** RFC 9113 §6.5.2 limits, and node's defences against stream floods (CVE-2023-44487 rapid reset). */
function sessionOptions(limits: ListenerLimits): http2.ServerOptions {
  return {
    settings: { maxConcurrentStreams: 100, maxHeaderListSize: limits.maxHeaderBytes },
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    unknownProtocolTimeout: 5_000,
  };
}

/** The HTTP/1.1 parser's refusals: a bare status, then the connection is closed. */
function refuseMalformed(runtime: GatewayRuntime): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
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
  };
}

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * One cleartext port for HTTP/1.1 and h2c: each connection goes to the HTTP/2 server when its first bytes
 * are the HTTP/2 preface, to the HTTP/1.1 server as soon as they cannot be, with the bytes read so far put
 * back. Neither server listens itself; a connection that does not tell which within the header deadline is
 * closed. The `Upgrade: h2c` dance of RFC 7540 is not offered (RFC 9113 §3.1 deprecates it).
 */
function byPreface(http1: http.Server, h2: http2.Http2Server, headersTimeoutMs: number): PublicServer {
  const front = net.createServer({ noDelay: true }, (socket) => {
    let seen: Buffer | undefined;
    const timer = setTimeout(() => socket.destroy(), headersTimeoutMs);
    const dropped = () => clearTimeout(timer);
    const onData = (chunk: Buffer) => {
      seen = seen ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, PREFACE.length);
      const isH2 = seen.compare(PREFACE, 0, n, 0, n) === 0;
      if (isH2 && n < PREFACE.length) return;
      clearTimeout(timer);
      socket.off('data', onData).off('error', dropped).off('close', dropped);
      socket.pause();
      socket.unshift(seen);
      if (isH2) {
        // The session reads what was put back from the socket's buffer itself.
        markConnection(socket);
        h2.emit('connection', socket);
      } else {
        http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData).on('error', dropped).on('close', dropped);
  }) as PublicServer;
  h2.on('session', (session) => front.emit('session', session));
  // node:http enforces its header and request deadlines from a timer it starts on 'listening'.
  front.on('listening', () => http1.emit('listening'));
  front.on('close', () => http1.close());
  front.closeAllConnections = () => http1.closeAllConnections();
  front.closeIdleConnections = () => http1.closeIdleConnections();
  return front;
}

/** How long an HTTP/2 session being closed may take before its connection is cut. */
const SESSION_CLOSE_GRACE_MS = 1_000;

/**
 * Marks the connection under an HTTP/2 session, which node hides behind a proxy that refuses `destroy`;
 * the proxy still reads other properties through, this one included. Set before node makes the session.
 */
const CONNECTION = Symbol('bulwark.gateway.connection');
const markConnection = (socket: Duplex) => {
  (socket as unknown as Record<symbol, Duplex>)[CONNECTION] = socket;
};

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
  // node ends a closed session's socket and waits for the client to close its side, which one that
  // stopped reading never does: the connection itself is cut after a grace.
  const connection = (session.socket as unknown as Partial<Record<symbol, Duplex>>)[CONNECTION];
  const cutOff = () => setTimeout(() => connection?.destroy(), SESSION_CLOSE_GRACE_MS).unref();
  session.setTimeout(limits.requestTimeoutMs, () => {
    session.close();
    cutOff();
  });
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
        // Streams of a session already torn down (by node's own flood limits, or the client leaving)
        // still close one by one afterwards; GOAWAY on it would throw out of this listener.
        if (!session.destroyed) session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        session.destroy();
        cutOff();
      }
    });
  });
}
