/**
 * The upstream exchange of a route with masks: the JSON answer is read whole (bounded), its sensitive
 * fields masked for the caller's roles, and only then sent. Streaming it like other routes would let a
 * field reach the client before the mask could see it, so this path fails closed: an answer that is not
 * JSON, is compressed, or is too large becomes a 502 and nothing of it is passed on.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { applyMasking, type MaskingPolicy } from '../../core/masking/index.ts';
import { gatewayError } from '../errors.ts';
import { type ForwardOptions, type HeadMapper, type RetryStatus, retryStatusError } from './forward.ts';

/** Largest answer a masked route may give (masking needs the whole document in memory). */
export const MAX_MASKED_BYTES = 4 * 1024 * 1024;

/** Headers that describe the upstream's bytes, which masking changes. */
const CONTENT_HEADERS = new Set(['content-length', 'content-encoding', 'etag', 'content-md5', 'digest']);

export async function maskedExchange(
  dispatcher: Dispatcher,
  options: ForwardOptions,
  res: ServerResponse,
  mapHead: HeadMapper,
  policy: MaskingPolicy,
  roles: readonly string[],
  retryStatus: RetryStatus,
): Promise<number> {
  const upstream = await dispatcher.request({
    path: options.path,
    method: options.method as Dispatcher.HttpMethod,
    // Plain bytes: a compressed body could not be masked.
    headers: { ...options.headers, 'accept-encoding': 'identity' },
    body: options.body,
    headersTimeout: options.headersTimeout,
    bodyTimeout: options.bodyTimeout,
  });
  if (retryStatus(upstream.statusCode)) {
    await upstream.body.dump();
    throw retryStatusError(upstream.statusCode);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of upstream.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_MASKED_BYTES) {
      upstream.body.destroy();
      throw unmaskable(upstream.statusCode, 'the answer of a masked route is larger than it may be');
    }
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const type = String(upstream.headers['content-type'] ?? '');
  const encoding = String(upstream.headers['content-encoding'] ?? 'identity');
  let body = raw;
  if (raw.length > 0) {
    if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type) || encoding !== 'identity') {
      throw unmaskable(upstream.statusCode, 'a masked route answered something that cannot be masked');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (cause) {
      throw unmaskable(upstream.statusCode, 'a masked route answered malformed JSON', cause);
    }
    body = Buffer.from(JSON.stringify(applyMasking(parsed, policy, roles)), 'utf8');
  }
  const head = mapHead(
    upstream.statusCode,
    upstream.headers as Record<string, string | string[] | undefined>,
  );
  for (const name of Object.keys(head)) if (CONTENT_HEADERS.has(name)) delete head[name];
  head['content-length'] = String(body.length);
  res.writeHead(upstream.statusCode, head);
  res.end(body);
  return upstream.statusCode;
}

/**
 * An answer the upstream gave (with `upstreamStatus`) that cannot be passed on masked. The upstream stage
 * judges the target by that status, as for any answer: which answers cannot be masked is often the
 * client's to choose (a path answered with a text 404, a listing too large), and counted as failures a
 * few of them opened the target's circuit breaker for every caller.
 */
function unmaskable(status: number, message: string, cause?: unknown): Error {
  return Object.assign(gatewayError('gateway_upstream_error', message, cause ? { cause } : {}), {
    upstreamStatus: status,
  });
}
