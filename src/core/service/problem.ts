/**
 * RFC 9457 problem details. Every error a Bulwark API returns goes through {@link toProblem}: known errors
 * keep their stable `code`; anything else becomes a 500 `internal` whose body reveals nothing.
 */
import { BulwarkError, coreError, ERROR_CATALOG, type ErrorCode } from '../errors.ts';

/** Where each code's row lives: `docs/<doc>.md#<code>`. */
export const PROBLEM_TYPE_BASE = 'https://bulwark.dev/docs/';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  requestId?: string;
  [extension: string]: unknown;
}

/** Fastify's own error codes and the Bulwark code each maps to. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
  FST_ERR_VALIDATION: 'invalid_request',
  FST_ERR_NOT_FOUND: 'not_found',
};

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'invalid_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'request_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'not_ready',
};

/** Normalises anything thrown into a BulwarkError without losing a safe, specific message. */
export function asBulwarkError(err: unknown): BulwarkError {
  if (err instanceof BulwarkError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; validation?: unknown };
  const fastifyCode = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  const code = fastifyCode ?? (status < 500 ? STATUS_CODES[status] : undefined);
  if (code && status < 500) {
    const details = Array.isArray(e.validation)
      ? { errors: e.validation.map(describeValidation) }
      : undefined;
    return coreError(code, typeof e.message === 'string' ? e.message : ERROR_CATALOG[code].title, {
      cause: err,
      details,
    });
  }
  return coreError('internal', 'internal error', { cause: err });
}

function describeValidation(v: unknown): { path: string; message: string } {
  const item = v as { instancePath?: string; message?: string; params?: { missingProperty?: string } };
  const missing = item.params?.missingProperty;
  const path = `${item.instancePath ?? ''}${missing ? `/${missing}` : ''}` || '/';
  return { path, message: item.message ?? 'invalid' };
}

export function toProblem(err: BulwarkError, instance?: string, requestId?: string): Problem {
  const problem: Problem = {
    type: `${PROBLEM_TYPE_BASE}${err.doc}#${err.code}`,
    title: err.title,
    status: err.status,
    // 5xx and unexposed errors say nothing internal (no stack, no SQL, no path).
    detail: err.expose ? err.message : err.title,
    code: err.code,
  };
  if (instance !== undefined) problem.instance = instance;
  if (requestId !== undefined) problem.requestId = requestId;
  if (err.expose && err.details) Object.assign(problem, err.details, problem);
  return problem;
}
