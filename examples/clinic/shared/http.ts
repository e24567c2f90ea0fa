/**
 * Small HTTP helpers shared by the clinic services: a path router, bounded JSON bodies and RFC 9457
 * problem answers with stable codes. Plain node:http, nothing from Bulwark: `billing` uses it too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A refusal the services answer as problem+json; `code` is stable, `detail` never holds PII. */
export class ClinicError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, detail: string) {
    super(detail);
    this.name = 'ClinicError';
    this.code = code;
    this.status = status;
  }
}

export const MAX_BODY_BYTES = 64 * 1024;

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ClinicError('clinic_body_too_large', 413, 'the body is too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {}
  throw new ClinicError('clinic_invalid_request', 400, 'the body must be a JSON object');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendProblem(res: ServerResponse, error: unknown): void {
  const e = error instanceof ClinicError ? error : new ClinicError('clinic_internal', 500, 'internal error');
  const text = JSON.stringify({
    type: 'about:blank',
    title: e.code,
    status: e.status,
    code: e.code,
    detail: e.message,
  });
  if (res.headersSent) return void res.destroy();
  res.writeHead(e.status, {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Field checks for request bodies; the message names the field, never its value. */
export function requireString(body: Record<string, unknown>, field: string, pattern?: RegExp): string {
  const value = body[field];
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > 2000 ||
    (pattern && !pattern.test(value))
  )
    throw new ClinicError('clinic_invalid_request', 400, `field ${field} is missing or malformed`);
  return value;
}

export type RouteHandler<C> = (
  ctx: C,
  params: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
) => Promise<void>;

interface Route<C> {
  method: string;
  segments: string[];
  handler: RouteHandler<C>;
}

/** Literal segments and `:name` parameters; the path given must already be canonical. */
export class Router<C> {
  readonly #routes: Route<C>[] = [];

  on(method: string, pattern: string, handler: RouteHandler<C>): this {
    this.#routes.push({ method, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  match(method: string, path: string): { handler: RouteHandler<C>; params: Record<string, string> } {
    const parts = path.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.#routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = route.segments.every((s, i) => {
        if (s.startsWith(':')) {
          params[s.slice(1)] = decodeURIComponent(parts[i]!);
          return true;
        }
        return s === parts[i];
      });
      if (!ok) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params };
    }
    if (pathMatched) throw new ClinicError('clinic_method_not_allowed', 405, 'method not allowed');
    throw new ClinicError('clinic_not_found', 404, 'no such resource');
  }
}

export function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?')[0]!;
}
