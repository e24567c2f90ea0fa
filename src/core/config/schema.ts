/**
 * The JSON Schema of Bulwark's configuration file. Core keys live here; each component contributes the
 * schema of its own `components.<name>` section (see {@link buildConfigSchema}). Every key carries a
 * `description` and a secure `default`: `docs/configuration.md` is generated from this file and a test
 * fails when the two disagree.
 */

/** The subset of JSON Schema that Bulwark's config uses, typed so that schemas are checked when written. */
export interface JsonSchema {
  type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'null' | readonly string[];
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: readonly string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
  examples?: readonly unknown[];
  /** Written in the docs instead of the literal default (e.g. "a fresh random value"). */
  'x-default-doc'?: string;
}

const port = (def: number, what: string): JsonSchema => ({
  type: 'integer',
  minimum: 0,
  maximum: 65535,
  default: def,
  description: `TCP port ${what} listens on (0 picks a free port).`,
});

/** The keys every component section has, whatever the component. */
export function componentSection(
  name: string,
  defaultPort: number,
  own: Record<string, JsonSchema>,
): JsonSchema {
  return {
    type: 'object',
    description: `The \`${name}\` component.`,
    additionalProperties: false,
    default: {},
    properties: {
      enabled: { type: 'boolean', default: true, description: `Run \`${name}\` under \`bulwark up\`.` },
      port: port(defaultPort, `\`${name}\``),
      ...own,
    },
  };
}

export const coreSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: {
      type: 'string',
      enum: ['production', 'development'],
      default: 'production',
      description:
        'Production refuses insecure combinations (plain HTTP, development-only defaults). Development relaxes them for a laptop and says so in the log.',
    },
    home: {
      type: 'string',
      minLength: 1,
      default: './.bulwark',
      description:
        'Data directory: SQLite files, keys, certificates, spools and the runtime state. `BULWARK_HOME` overrides it.',
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: {
          type: 'string',
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
          description: 'Lowest level written. Every line is redacted whatever the level.',
        },
        redactKeys: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description:
            'Extra object keys whose values are always replaced by `[REDACTED]` (case-insensitive), on top of the built-in list (authorization, cookie, password, secret, token, api keys...).',
        },
        maskFields: {
          type: 'object',
          additionalProperties: { type: 'string', enum: ['ssn', 'card', 'email', 'phone', 'last4', 'full'] },
          default: {
            ssn: 'ssn',
            phone: 'phone',
            phoneNumber: 'phone',
            cardNumber: 'card',
            pan: 'card',
            accountNumber: 'last4',
          },
          description:
            'Keys whose values are written masked but recognisable (`ssn: ***-**-6789`), with the masks the gateway applies to responses: ssn, card, email, phone, last4 or full. E-mail addresses, card numbers and tokens are redacted wherever they appear regardless.',
        },
      },
    },
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The listener every component shares: address, TLS, limits and shutdown.',
      properties: {
        host: {
          type: 'string',
          minLength: 1,
          default: '127.0.0.1',
          description:
            'Address the components listen on. Loopback by default: nothing is reachable from outside.',
        },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: {
              type: 'boolean',
              default: true,
              description: 'Serve HTTPS. Required in production mode.',
            },
            certFile: {
              type: ['string', 'null'],
              default: null,
              description:
                'PEM certificate chain. When null, Bulwark issues one from its local CA in `<home>/tls/` (created on first start).',
            },
            keyFile: {
              type: ['string', 'null'],
              default: null,
              description: 'PEM private key matching `certFile`.',
            },
            caFile: {
              type: ['string', 'null'],
              default: null,
              description:
                'PEM CA bundle that clients (and `bulwark status`) trust. Null means the local CA.',
            },
            minVersion: {
              type: 'string',
              enum: ['TLSv1.2', 'TLSv1.3'],
              default: 'TLSv1.2',
              description: 'Oldest TLS version accepted. TLS 1.0 and 1.1 are never offered.',
            },
          },
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            bodyBytes: {
              type: 'integer',
              minimum: 1,
              default: 1048576,
              description:
                'Largest request body accepted, in bytes; larger ones get 413 `request_too_large`.',
            },
            requestTimeoutMs: {
              type: 'integer',
              minimum: 1,
              default: 30000,
              description: 'Time allowed to receive a whole request (slowloris defence); then 408.',
            },
            headersTimeoutMs: {
              type: 'integer',
              minimum: 1,
              default: 10000,
              description: 'Time allowed to receive the request headers.',
            },
            keepAliveTimeoutMs: {
              type: 'integer',
              minimum: 1,
              default: 5000,
              description: 'Idle keep-alive connections are closed after this long.',
            },
          },
        },
        shutdownGraceMs: {
          type: 'integer',
          minimum: 0,
          default: 10000,
          description: 'On SIGTERM, in-flight requests get this long to finish before connections are cut.',
        },
        metricsCallers: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: ['*'],
          description:
            "SPIFFE IDs (a trailing `*` matches a prefix; `*` alone: every workload of the trust domain) that may scrape `/metrics` when a component serves mTLS. The gateway's metrics name its API consumers: list the Prometheus workload here to keep them from other workloads.",
        },
      },
    },
    storage: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        engine: {
          type: 'string',
          enum: ['sqlite', 'postgres'],
          default: 'sqlite',
          description:
            'Where components keep state: one SQLite file per component in `home` (embedded), or PostgreSQL (cluster), one schema per component.',
        },
        postgres: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            url: {
              type: 'string',
              default: 'postgres://127.0.0.1:5432/bulwark',
              description:
                'Connection URL. Put the password in `BULWARK_STORAGE__POSTGRES__URL` or a `.pgpass` file, not in the YAML.',
            },
            poolSize: {
              type: 'integer',
              minimum: 1,
              maximum: 200,
              default: 10,
              description: 'Connections per component process.',
            },
            ssl: {
              type: 'boolean',
              default: false,
              description: 'Use TLS to PostgreSQL. Required in production when the host is not loopback.',
            },
          },
        },
      },
    },
    auditClient: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How every component sends its security events to `audit`.',
      properties: {
        url: {
          type: ['string', 'null'],
          default: null,
          description:
            'Base URL of the audit service. Null: under `bulwark up` the supervisor gives each component the URL of the `audit` it started; a component run alone spools its events in `<home>/spool/` until one is set.',
        },
        batchSize: {
          type: 'integer',
          minimum: 1,
          maximum: 10000,
          default: 500,
          description: 'Events sent in one request at most.',
        },
        flushIntervalMs: {
          type: 'integer',
          minimum: 1,
          default: 100,
          description: 'Longest time an event waits in memory before it is sent.',
        },
      },
    },
    mesh: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How the components themselves join the mesh and serve mutual TLS.',
      properties: {
        authorityUrl: {
          type: ['string', 'null'],
          default: null,
          description:
            'Base URL of `authority`. When set and the environment variable `MESH_JOIN_TOKEN` holds a one-time join token, a component joins at start and serves only mutual TLS with its SVID; it authorises callers by SPIFFE ID. `bulwark up` sets both for every component it starts. Null: a component run alone serves HTTPS from the local CA (development and tests).',
        },
        hosts: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 253 },
          default: [],
          description:
            'Further DNS names or IP addresses put in the SVIDs of the components `bulwark up` starts, besides `server.host`, `127.0.0.1` and `localhost` (for clients that check host names: browsers, curl, OpenID Connect clients).',
        },
      },
    },
    supervisor: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How `bulwark up` runs the components.',
      properties: {
        restartInitialDelayMs: {
          type: 'integer',
          minimum: 1,
          default: 250,
          description:
            'Delay before the first restart of a crashed component; doubles on each further crash.',
        },
        restartMaxDelayMs: {
          type: 'integer',
          minimum: 1,
          default: 30000,
          description: 'Upper bound of the restart delay.',
        },
        stableAfterMs: {
          type: 'integer',
          minimum: 1,
          default: 60000,
          description: 'A component that has run this long is considered healthy and its delay resets.',
        },
        readyTimeoutMs: {
          type: 'integer',
          minimum: 1,
          default: 15000,
          description: 'Time a component has to report ready before it is counted as failed.',
        },
        stopTimeoutMs: {
          type: 'integer',
          minimum: 1,
          default: 15000,
          description: 'After SIGTERM, a component that has not exited in this time is killed.',
        },
      },
    },
    components: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'One section per component; each has `enabled` and `port` plus its own keys.',
      properties: {},
    },
  },
} as const satisfies JsonSchema;

/** What a component contributes to the configuration. */
export interface ComponentConfigSpec {
  name: string;
  defaultPort: number;
  /** The component's own keys (beyond `enabled` and `port`). */
  properties: Record<string, JsonSchema>;
}

/** The whole schema: core keys plus one `components.<name>` section per known component. */
export function buildConfigSchema(components: readonly ComponentConfigSpec[]): JsonSchema {
  const schema = structuredClone(coreSchema) as JsonSchema;
  const sections = schema.properties!['components']!;
  sections.properties = {};
  for (const c of components)
    sections.properties[c.name] = componentSection(c.name, c.defaultPort, c.properties);
  return schema;
}
