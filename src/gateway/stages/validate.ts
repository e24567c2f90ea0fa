/**
 * Stage 9: the request body is read (bounded) and the route's schemas are applied to path params, query,
 * headers and body (mass assignment is refused where the schema says `additionalProperties: false`).
 * Trusts: the route's compiled schemas; the body only after size, content type and JSON depth checks.
 * A failure names the field (sanitised) and never echoes the value.
 */
import type { ValidateFunction } from 'ajv';
import { fieldMap } from '../canonical/headers.ts';
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';
import { fieldOf, jsonShapeError } from '../validation/request-schema.ts';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export async function validateRequest(ctx: RequestContext): Promise<void> {
  const v = ctx.route?.validation;
  const { request } = ctx;
  const stream = (ctx.req as { stream?: { endAfterHeaders?: boolean } }).stream;
  // HTTP/2 frames the body itself (DATA frames, no Content-Length needed): the HEADERS frame says whether one follows.
  const hasBody =
    ctx.req.httpVersionMajor === 2
      ? stream?.endAfterHeaders === false
      : request.headers['transfer-encoding'] !== undefined ||
        (request.headers['content-length'] ?? '0') !== '0';
  if (hasBody) {
    if (v?.contentTypes) {
      const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!v.contentTypes.has(type))
        throw gatewayError('gateway_unsupported_media_type', 'content type not accepted');
    }
    // A route may only lower the gateway's limit (`limits.maxBodyBytes`): the body is held in memory, and
    // a route file asking for more must not let every client make the gateway buffer that much.
    const limit = ctx.runtime.maxBodyBytes;
    ctx.body = await readBody(
      ctx,
      v?.maxBodyBytes !== undefined && v.maxBodyBytes < limit ? v.maxBodyBytes : limit,
    );
  }
  if (!v) return;
  check(v.params, ctx.params, 'params');
  if (v.query) check(v.query, queryObject(request.query), 'query');
  if (v.headers) check(v.headers, { ...request.headers }, 'headers');
  // A body schema applies to the body that was sent, and requires one on the methods that carry one.
  if (v.body && (ctx.body || BODY_METHODS.has(request.method))) {
    if (!ctx.body)
      throw gatewayError('gateway_validation_failed', 'body is required', { details: { field: 'body' } });
    const shape = jsonShapeError(ctx.body, v.maxJsonDepth);
    if (shape) {
      const message =
        shape === 'too_deep' ? 'body nests too deeply' : 'body names a member twice in one object';
      throw gatewayError('gateway_validation_failed', message, { details: { field: 'body', reason: shape } });
    }
    if (!declaresUtf8(request.headers['content-type'])) {
      throw gatewayError('gateway_unsupported_media_type', 'a JSON body must be UTF-8 (RFC 8259 §8.1)');
    }
    let parsed: unknown;
    try {
      // Fatal: bytes that are not UTF-8 would be read here as U+FFFD and upstream as something else.
      parsed = JSON.parse(UTF8.decode(ctx.body));
    } catch {
      throw gatewayError('gateway_validation_failed', 'body is not valid JSON', {
        details: { field: 'body' },
      });
    }
    check(v.body, parsed, 'body');
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether every `charset` parameter of the Content-Type, if any, is UTF-8. The body is checked as UTF-8
 * (RFC 8259 §8.1: JSON between systems is UTF-8); an upstream honouring another charset would read other
 * text than the schema saw. In UTF-7, `+ACIALAAi-` is `","`: one string here, a new property upstream
 * (Express's body-parser decodes any `utf-*` charset). Every parameter counts, as parsers differ on which
 * of two wins.
 */
function declaresUtf8(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.includes(';')) return true;
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const value = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (value !== 'utf-8' && value !== 'utf8') return false;
  }
  return true;
}

function check(validate: ValidateFunction | undefined, data: unknown, part: string): void {
  if (!validate || validate(data)) return;
  const error = validate.errors?.[0];
  const field = error ? fieldOf(part, error) : part;
  // ajv messages describe the rule (type, pattern, required), not the input; the field is sanitised.
  const rule = error ? `${error.keyword}` : 'schema';
  throw gatewayError('gateway_validation_failed', `${field} fails the ${rule} rule`, {
    details: { field, rule },
  });
}

function queryObject(query: string): Record<string, string | string[]> {
  // No prototype: `?constructor=x` is the parameter, not Object's function, and `?__proto__=x` no
  // longer replaces the prototype of what the schema checks.
  const out = fieldMap<string | string[]>();
  if (!query) return out;
  for (const [k, value] of new URLSearchParams(query)) {
    const prev = out[k];
    out[k] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/** Reads the body up to `limit` bytes; a larger declared or streamed body is refused at once. */
function readBody(ctx: RequestContext, limit: number): Promise<Buffer> {
  const declared = Number(ctx.request.headers['content-length'] ?? Number.NaN);
  if (declared > limit) {
    return Promise.reject(gatewayError('gateway_body_too_large', `body larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = ctx.req;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(gatewayError('gateway_body_too_large', `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(gatewayError('gateway_bad_request', 'the client aborted the body')));
  });
}
