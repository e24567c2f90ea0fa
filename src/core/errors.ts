/**
 * Bulwark's error model. Every failure a caller can see has a stable `code`, an HTTP `status` and an
 * `expose` flag; codes are never reused and are documented one row each in `docs/errors.md` (a test
 * checks that). Match on `code`, never on the message: messages are for people and may change.
 *
 * Core codes live in {@link ERROR_CATALOG}; each component keeps its own catalog (prefixed with its name)
 * and builds its errors with {@link errorFactory}, so a code's status and title are written once.
 */

/** The catalog: code -> HTTP status and a short title (RFC 9457 `title`). */
export const ERROR_CATALOG = {
  // Generic request errors (core/service)
  invalid_request: { status: 400, title: 'The request is malformed or fails validation' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'The caller is not allowed to do this' },
  not_found: { status: 404, title: 'No such resource' },
  method_not_allowed: { status: 405, title: 'The method is not allowed on this resource' },
  request_timeout: { status: 408, title: 'The request took too long to arrive' },
  conflict: { status: 409, title: 'The request conflicts with the current state' },
  request_too_large: { status: 413, title: 'The request body is larger than the limit' },
  unsupported_media_type: { status: 415, title: 'The request body has an unsupported content type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  not_ready: { status: 503, title: 'The service is starting or shutting down' },
  upstream_unavailable: { status: 503, title: 'A service this request depends on is unavailable' },
  // Configuration (core/config)
  config_invalid: { status: 500, title: 'The configuration is invalid' },
  config_unreadable: { status: 500, title: 'The configuration file cannot be read or parsed' },
  // Storage (core/storage)
  storage_unavailable: { status: 503, title: 'The storage engine cannot be reached' },
  storage_migration_failed: { status: 500, title: 'A storage migration failed' },
  storage_migration_tampered: { status: 500, title: 'An applied migration differs from the code' },
  storage_constraint: { status: 409, title: 'A storage constraint was violated' },
  // Supervisor and CLI
  component_unknown: { status: 400, title: 'No component with that name' },
  component_failed: { status: 500, title: 'A component failed to start' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** A component's own table of codes, in the same shape as {@link ERROR_CATALOG}. */
export type ErrorCatalog = Record<string, { readonly status: number; readonly title: string }>;

export interface BulwarkErrorOptions {
  /** The underlying error, kept for logs; never sent to a client. */
  cause?: unknown;
  /** Whether `message` may be shown to the client. Defaults to true for 4xx, false for 5xx. */
  expose?: boolean;
  /** Machine-readable extra members for the problem document (RFC 9457 §3.2 extension members). */
  details?: Record<string, unknown>;
  /** Override the catalog status (e.g. 503 vs 500 for the same family). */
  status?: number;
  /** Extra response headers, e.g. `Retry-After` on 429. */
  headers?: Record<string, string>;
}

/**
 * Base class of every error Bulwark raises on purpose. `doc` is the docs page whose table documents the
 * code (`errors` for core, the component name otherwise); the problem `type` URI points at that row.
 */
export class BulwarkError<C extends string = string> extends Error {
  readonly code: C;
  readonly status: number;
  readonly title: string;
  readonly expose: boolean;
  readonly doc: string;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    spec: { code: C; status: number; title: string; doc: string },
    message: string,
    options: BulwarkErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BulwarkError';
    this.code = spec.code;
    this.status = options.status ?? spec.status;
    this.title = spec.title;
    this.doc = spec.doc;
    this.expose = options.expose ?? this.status < 500;
    this.details = options.details;
    this.headers = options.headers;
  }
}

/**
 * Makes a typed constructor for one catalog, so that a component writes `auditError('audit_schema', msg)`
 * and the compiler rejects unknown codes.
 *
 * @example
 * const CATALOG = { audit_schema: { status: 400, title: 'Record violates the schema' } } as const;
 * export const auditError = errorFactory(CATALOG, 'audit');
 * throw auditError('audit_schema', 'actor.id is required');
 */
export function errorFactory<T extends ErrorCatalog>(catalog: T, doc: string) {
  return (
    code: keyof T & string,
    message: string,
    options?: BulwarkErrorOptions,
  ): BulwarkError<keyof T & string> => {
    const entry = catalog[code];
    if (!entry) throw new TypeError(`unknown error code ${code}`);
    return new BulwarkError({ code, status: entry.status, title: entry.title, doc }, message, options);
  };
}

/** Constructor for the core catalog, documented in `docs/errors.md`. */
export const coreError = errorFactory(ERROR_CATALOG, 'errors');

/** Raised when configuration is invalid; `issues` lists every problem found, not just the first. */
export class ConfigError extends BulwarkError<'config_invalid' | 'config_unreadable'> {
  readonly issues: readonly ConfigIssue[];
  constructor(
    issues: readonly ConfigIssue[],
    code: 'config_invalid' | 'config_unreadable' = 'config_invalid',
  ) {
    super({ code, doc: 'errors', ...ERROR_CATALOG[code] }, issues.map(formatConfigIssue).join('\n'), {
      expose: true,
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** One configuration problem: where, what was expected, and how to fix it. */
export interface ConfigIssue {
  /** Key path such as `server.tls.enabled`, or an environment variable name. */
  path: string;
  message: string;
  fix: string;
}

export function formatConfigIssue(issue: ConfigIssue): string {
  return `${issue.path}: ${issue.message}. Fix: ${issue.fix}`;
}

export type StorageErrorCode =
  | 'storage_unavailable'
  | 'storage_migration_failed'
  | 'storage_migration_tampered'
  | 'storage_constraint';

export class StorageError extends BulwarkError<StorageErrorCode> {
  constructor(code: StorageErrorCode, message: string, options: BulwarkErrorOptions = {}) {
    super({ code, doc: 'errors', ...ERROR_CATALOG[code] }, message, options);
    this.name = 'StorageError';
  }
}
