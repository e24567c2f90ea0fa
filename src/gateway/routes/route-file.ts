/**
 * The route file (decK-like YAML): services (upstream targets), routes (paths to services, with their
 * checks) and consumers (API keys, stored as SHA-256 hashes). This module parses and checks a document
 * against its JSON Schema; `route-table.ts` compiles it. Trusts nothing: the file is operator input that
 * may be wrong, and a wrong file must never replace a good one.
 */
import { Ajv } from 'ajv';
import { parse, stringify } from 'yaml';
import { MASK_KINDS, type MaskKind } from '../../core/masking/index.ts';

export interface UpstreamTls {
  /** PEM file of the CA that signs the upstream's certificate. */
  caFile?: string;
  /** Client certificate and key (PEM files) for mTLS to the upstream. */
  certFile?: string;
  keyFile?: string;
  serverName?: string;
  /**
   * The upstream's SPIFFE ID: connect with the gateway's own SVID from `authority` and accept only a server
   * presenting this ID (instead of `caFile` / `certFile` / `keyFile`).
   */
  spiffeId?: string;
}

export interface ServiceSpec {
  name: string;
  targets: string[];
  /** Audience of the internal identity assertion; the service name when absent. */
  audience?: string;
  tls?: UpstreamTls;
  timeouts?: { connectMs?: number; headersMs?: number; bodyMs?: number };
  retries?: { attempts?: number; budgetPercent?: number };
  circuitBreaker?: { failures?: number; openMs?: number };
  healthCheck?: { path: string; intervalMs?: number; unhealthyAfter?: number };
  connections?: number;
}

export interface RateLimitSpec {
  by: 'ip' | 'route' | 'subject' | 'client' | 'api-key' | `header:${string}`;
  points: number;
  durationSeconds: number;
  /** Default `fixed-window`; see limits/algorithms.ts. */
  algorithm?: 'fixed-window' | 'sliding-window' | 'token-bucket';
  /** Token bucket only: the bucket size (burst), default `points`; it refills `points` per `durationSeconds`. */
  capacity?: number;
  /**
   * Where the counters live: `memory` (default) in the gateway, shared by all its processes (`workers`);
   * `process` in each process alone (no IPC, but with N workers a client can get up to N times the limit);
   * `redis` shared by every gateway.
   */
  store?: 'memory' | 'process' | 'redis';
  /** Redis store, or memory with workers: let requests through (true) or refuse them (false) when the counters do not answer. */
  failOpen?: boolean;
  /**
   * IPv6 clients are counted by this prefix of their address (default 64): one subscriber usually holds
   * a whole /64 and could otherwise take a fresh budget with every address in it.
   */
  ipv6Prefix?: number;
}

export interface ValidationSpec {
  params?: object;
  query?: object;
  headers?: object;
  body?: object;
  contentTypes?: string[];
  maxBodyBytes?: number;
  maxJsonDepth?: number;
  /**
   * Accept `pattern`s with nested repetition (refused by default: they can take exponential time on a
   * crafted input). For patterns known to be unambiguous that the check cannot tell apart.
   */
  allowNestedQuantifiers?: boolean;
}

export interface CorsSpec {
  origins: string[];
  methods?: string[];
  headers?: string[];
  credentials?: boolean;
  maxAgeSeconds?: number;
}

export interface RouteSpec {
  name: string;
  service: string;
  paths: string[];
  methods?: string[];
  hosts?: string[];
  /** Header equality the route requires, e.g. `{ api-version: "2" }` (versioning by header). */
  matchHeaders?: Record<string, string>;
  stripPrefix?: string;
  auth?: { required?: boolean; audience?: string; apiKeys?: boolean };
  authorize?: { action?: string; api?: string; tenant?: string; shadow?: boolean };
  ipAllow?: string[];
  ipDeny?: string[];
  rateLimits?: RateLimitSpec[];
  concurrency?: number;
  validate?: ValidationSpec;
  cors?: CorsSpec;
  deprecation?: { deprecatedAt?: string; sunsetAt?: string; link?: string };
  /**
   * Masks of sensitive fields in JSON responses, per role (core masking: `***-**-6789`, last four of a
   * card...): a field is masked unless one of the caller's roles reveals it.
   */
  mask?: { fields: Record<string, MaskKind>; reveal?: Record<string, string[]> };
}

export interface ConsumerSpec {
  name: string;
  /** `sha256:<hex>` of the API key; the key itself is never stored. */
  apiKeyHash: string;
  subject?: string;
  roles?: string[];
  tenant?: string;
}

export interface RouteDocument {
  format_version: '1';
  services: ServiceSpec[];
  routes: RouteSpec[];
  consumers?: ConsumerSpec[];
}

const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' };
const positive = { type: 'integer', minimum: 1 };
/** Milliseconds, at most what a node timer can wait: a longer delay is clamped to 1 ms, not kept. */
const millis = { type: 'integer', minimum: 1, maximum: 2_147_483_647 };
const cidr = { type: 'string', pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' };
const strings = { type: 'array', items: { type: 'string' } };
/** RFC 9110 §5.6.2 tokens (method and field names): they are written into CORS response headers. */
const tokens = { type: 'array', items: { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" } };

/** The route file's JSON Schema (also published in docs/gateway.md). */
export const ROUTE_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['format_version', 'services', 'routes'],
  properties: {
    format_version: { const: '1' },
    services: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'targets'],
        properties: {
          name,
          targets: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^https?://[^/?#]+$' } },
          audience: { type: 'string', minLength: 1 },
          tls: {
            type: 'object',
            additionalProperties: false,
            properties: {
              caFile: { type: 'string' },
              certFile: { type: 'string' },
              keyFile: { type: 'string' },
              serverName: { type: 'string' },
              spiffeId: { type: 'string', pattern: '^spiffe://[a-z0-9._-]+/.+$', maxLength: 2048 },
            },
          },
          timeouts: {
            type: 'object',
            additionalProperties: false,
            properties: { connectMs: millis, headersMs: millis, bodyMs: millis },
          },
          retries: {
            type: 'object',
            additionalProperties: false,
            properties: {
              attempts: { type: 'integer', minimum: 0, maximum: 5 },
              budgetPercent: { type: 'number', minimum: 0, maximum: 100 },
            },
          },
          circuitBreaker: {
            type: 'object',
            additionalProperties: false,
            properties: { failures: positive, openMs: millis },
          },
          healthCheck: {
            type: 'object',
            additionalProperties: false,
            required: ['path'],
            properties: {
              // Origin-form characters only (RFC 3986): anything else made every probe fail, and every target unhealthy.
              path: { type: 'string', pattern: "^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$" },
              intervalMs: millis,
              unhealthyAfter: positive,
            },
          },
          connections: positive,
        },
      },
    },
    routes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'service', 'paths'],
        properties: {
          name,
          service: name,
          paths: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^/' } },
          methods: { type: 'array', items: { type: 'string', pattern: '^[A-Z]+$' } },
          // What the request's host is compared as: a DNS name or a bracketed IPv6 address, without port
          // (a port or a `*.` wildcard never matched, and the route's traffic went to the next route).
          hosts: {
            type: 'array',
            items: {
              type: 'string',
              pattern:
                '^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?|\\[[0-9A-Fa-f:.]+\\])$',
            },
          },
          matchHeaders: { type: 'object', additionalProperties: { type: 'string' } },
          // Stripped from a path that is it or starts with it and `/`: a trailing `/` (or `/` alone) never was.
          stripPrefix: { type: 'string', pattern: '^(/[^/]+)+$' },
          auth: {
            type: 'object',
            additionalProperties: false,
            properties: {
              required: { type: 'boolean' },
              audience: { type: 'string' },
              apiKeys: { type: 'boolean' },
            },
          },
          authorize: {
            type: 'object',
            additionalProperties: false,
            properties: {
              action: { type: 'string' },
              api: { type: 'string' },
              tenant: { type: 'string' },
              shadow: { type: 'boolean' },
            },
          },
          ipAllow: { type: 'array', items: cidr },
          ipDeny: { type: 'array', items: cidr },
          rateLimits: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['by', 'points', 'durationSeconds'],
              properties: {
                by: { type: 'string', pattern: '^(ip|route|subject|client|api-key|header:[a-z0-9-]+)$' },
                points: positive,
                durationSeconds: positive,
                algorithm: { enum: ['fixed-window', 'sliding-window', 'token-bucket'] },
                capacity: positive,
                store: { enum: ['memory', 'process', 'redis'] },
                failOpen: { type: 'boolean' },
                ipv6Prefix: { type: 'integer', minimum: 1, maximum: 128 },
              },
            },
          },
          concurrency: positive,
          validate: {
            type: 'object',
            additionalProperties: false,
            properties: {
              params: { type: 'object' },
              query: { type: 'object' },
              headers: { type: 'object' },
              body: { type: 'object' },
              contentTypes: strings,
              maxBodyBytes: positive,
              maxJsonDepth: positive,
              allowNestedQuantifiers: { type: 'boolean' },
            },
          },
          cors: {
            type: 'object',
            additionalProperties: false,
            required: ['origins'],
            properties: {
              // RFC 6454 serialised origins (scheme, host, optional port) or `*`: they are echoed in a header.
              origins: {
                type: 'array',
                items: {
                  type: 'string',
                  pattern: '^(https?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?|\\*)$',
                },
              },
              methods: tokens,
              headers: tokens,
              credentials: { type: 'boolean' },
              maxAgeSeconds: positive,
            },
          },
          deprecation: {
            type: 'object',
            additionalProperties: false,
            properties: {
              deprecatedAt: { type: 'string', format: 'date-time' },
              sunsetAt: { type: 'string', format: 'date-time' },
              // URI characters only (RFC 3986): the link is written into a Link header between `<` and `>`.
              link: { type: 'string', pattern: "^https://[A-Za-z0-9._~:/?#\\[\\]@!$&'()*+,;=%-]+$" },
            },
          },
          mask: {
            type: 'object',
            additionalProperties: false,
            required: ['fields'],
            properties: {
              fields: {
                type: 'object',
                minProperties: 1,
                additionalProperties: { type: 'string', enum: [...MASK_KINDS] },
              },
              reveal: { type: 'object', additionalProperties: strings },
            },
          },
        },
      },
    },
    consumers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'apiKeyHash'],
        properties: {
          name,
          apiKeyHash: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
          subject: { type: 'string' },
          roles: strings,
          tenant: { type: 'string' },
        },
      },
    },
  },
} as const;

/** RFC 3339 §5.6 date-time, e.g. `2027-01-01T00:00:00Z`. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const checkSchema = ajv.compile(ROUTE_FILE_SCHEMA);

export interface RouteFileIssue {
  path: string;
  message: string;
}

/**
 * Parses YAML (or JSON) text and checks the schema and cross-references. Never throws for bad input.
 *
 * @example
 * const result = parseRouteFile(readFileSync('routes.yaml', 'utf8'));
 * if (!result.ok) console.error(result.issues);
 */
export function parseRouteFile(
  text: string,
): { ok: true; document: RouteDocument } | { ok: false; issues: RouteFileIssue[] } {
  let data: unknown;
  try {
    data = parse(text, { maxAliasCount: 50 });
  } catch (err) {
    // The parser's message ends with the offending lines of the file: only its first line is kept.
    const first = ((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '');
    return { ok: false, issues: [{ path: '/', message: `not valid YAML: ${printable(first, 200)}` }] };
  }
  return checkRouteDocument(data);
}

export function checkRouteDocument(
  data: unknown,
): { ok: true; document: RouteDocument } | { ok: false; issues: RouteFileIssue[] } {
  if (!checkSchema(data)) {
    // A pointer and an unknown property name are the file's own text: printable and bounded.
    const issues = (checkSchema.errors ?? []).map((e) => ({
      path: printable(e.instancePath || '/', 200),
      message: `${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${printable(String(e.params.additionalProperty), 64)})` : ''}`,
    }));
    return { ok: false, issues };
  }
  const doc = data as unknown as RouteDocument;
  const issues: RouteFileIssue[] = [];
  const services = new Set<string>();
  doc.services.forEach((s, i) => {
    if (services.has(s.name))
      issues.push({ path: `/services/${i}/name`, message: `duplicate service ${s.name}` });
    services.add(s.name);
    s.targets.forEach((target, j) => {
      // `user:password@` is never sent (undici makes no Authorization of it), and `export` would show it
      // to every viewer. The issue does not repeat the target.
      if (target.includes('@')) {
        issues.push({
          path: `/services/${i}/targets/${j}`,
          message: 'a target cannot carry credentials (user:password@); the gateway would not send them',
        });
      }
    });
    if (s.tls && Boolean(s.tls.certFile) !== Boolean(s.tls.keyFile)) {
      issues.push({ path: `/services/${i}/tls`, message: 'certFile and keyFile go together' });
    }
  });
  const routes = new Set<string>();
  doc.routes.forEach((r, i) => {
    if (routes.has(r.name)) issues.push({ path: `/routes/${i}/name`, message: `duplicate route ${r.name}` });
    routes.add(r.name);
    if (!services.has(r.service))
      issues.push({ path: `/routes/${i}/service`, message: `no service ${r.service}` });
    // Fetch spec, CORS protocol: a wildcard origin with credentials is refused by browsers and unsafe.
    if (r.cors?.credentials && r.cors.origins.includes('*')) {
      issues.push({ path: `/routes/${i}/cors`, message: 'credentials cannot be combined with origin *' });
    }
    // The schema's `format: date-time` is not checked (no formats in ajv here): a date that does not parse
    // was sent as `Deprecation: @NaN` and `Sunset: Invalid Date`.
    for (const key of ['deprecatedAt', 'sunsetAt'] as const) {
      const at = r.deprecation?.[key];
      if (at !== undefined && (!RFC3339.test(at) || Number.isNaN(Date.parse(at)))) {
        issues.push({ path: `/routes/${i}/deprecation/${key}`, message: 'not an RFC 3339 date-time' });
      }
    }
    for (const [j, p] of r.paths.entries()) {
      // Params are one object by name: a name used twice kept only the last value, and the params
      // schema never saw the first segment, which still went to the upstream.
      const names = (p.match(/\/:[A-Za-z0-9_]+/g) ?? []).map((n) => n.slice(2));
      if (new Set(names).size !== names.length) {
        issues.push({ path: `/routes/${i}/paths/${j}`, message: 'a parameter is named twice in the path' });
      }
      // A dot segment never matched: the request's path is canonical (RFC 3986 §5.2.4), it has none.
      if (
        !/^(\/(:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9\-._~!$&'()+,=@]+))*(\/\*|\/)?$/.test(p) ||
        /\/\.\.?(\/|$)/.test(p)
      ) {
        issues.push({
          path: `/routes/${i}/paths/${j}`,
          message: 'paths are literal segments (not . or ..), :param or a final /*',
        });
      }
    }
  });
  const hashes = new Set<string>();
  const consumers = new Set<string>();
  (doc.consumers ?? []).forEach((c, i) => {
    // A consumer is known by its name to `by: api-key` limits, metrics, the audit log and `diff`: two of
    // one name would share a budget and read as one caller.
    if (consumers.has(c.name))
      issues.push({ path: `/consumers/${i}/name`, message: `duplicate consumer ${c.name}` });
    consumers.add(c.name);
    if (hashes.has(c.apiKeyHash))
      issues.push({ path: `/consumers/${i}/apiKeyHash`, message: 'duplicate key hash' });
    hashes.add(c.apiKeyHash);
  });
  return issues.length ? { ok: false, issues } : { ok: true, document: doc };
}

/** Characters a terminal or a log viewer acts on: C0, DEL, C1, line separators and bidi overrides. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from the file as an issue may quote it: those characters escaped (`\u001b`) and cut to `max`,
 * so `validate` printing issues to a terminal cannot be made to clear it or print over its verdict.
 */
export function printable(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The document as YAML (`export`). */
export function formatRouteFile(doc: RouteDocument): string {
  return stringify(doc, { sortMapEntries: false });
}
