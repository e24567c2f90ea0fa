/**
 * What every response leaving the gateway carries: security headers (and HSTS over TLS), no server banner,
 * the stage-added headers; and gateway refusals as RFC 9457 problem documents that never echo the input.
 */
import type { ServerResponse } from 'node:http';
import { type BulwarkError, PROBLEM_TYPE_BASE_URL } from './problem-base.ts';
import type { GatewayRuntime } from './runtime.ts';
import { clientGone } from './upstream/forward.ts';

/** OWASP Secure Headers for APIs: no sniffing, no framing, no referrer leak, no caching of refusals. */
const BASE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
});

export function securityHeaders(runtime: GatewayRuntime): Readonly<Record<string, string>> {
  if (!runtime.tls) return BASE_SECURITY_HEADERS;
  // RFC 6797 §6.1: HSTS only over a secure transport.
  return Object.freeze({
    ...BASE_SECURITY_HEADERS,
    'strict-transport-security': `max-age=${runtime.hstsMaxAgeSeconds}; includeSubDomains`,
  });
}

/** Writes a problem document for a gateway refusal (headers first from stages, then from the error). */
export function sendProblem(
  res: ServerResponse,
  runtime: GatewayRuntime,
  error: BulwarkError,
  requestId: string,
  stageHeaders: Readonly<Record<string, string>>,
  close: boolean,
): void {
  const problem: Record<string, unknown> = {
    type: `${PROBLEM_TYPE_BASE_URL}${error.doc}#${error.code}`,
    title: error.title,
    status: error.status,
    detail: error.expose ? error.message : error.title,
    code: error.code,
    requestId,
  };
  const field = error.details?.['field'];
  if (typeof field === 'string') problem['field'] = field;
  const body = JSON.stringify(problem);
  if (res.headersSent || clientGone(res)) {
    if (!clientGone(res)) res.destroy();
    return;
  }
  res.writeHead(error.status, {
    ...securityHeaders(runtime),
    ...stageHeaders,
    ...(error.headers ?? {}),
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': requestId,
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}
