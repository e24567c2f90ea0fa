/** The `components.gateway` configuration keys (JSON Schema, documented in docs/configuration.md). */

import type { PathOptions } from '../core/http/canonical-path.ts';
import type { ComponentSectionConfig, JsonSchema } from '../core/index.ts';
import type { IssuerConfig } from './auth/jwt-authenticator.ts';

/** An issuer's introspection settings as configured: the client secret is read from a file. */
export interface IntrospectionSettings {
  endpoint: string;
  clientId: string;
  clientSecretFile: string;
  tokenPrefix: string | null;
  cacheSeconds: number;
  negativeCacheSeconds: number;
}

export interface GatewayConfig {
  publicPort: number;
  publicHost: string | null;
  workers: number;
  h2c: boolean;
  routesFile: string | null;
  issuers: (Omit<IssuerConfig, 'introspection'> & {
    caFile: string | null;
    introspection: IntrospectionSettings | null;
  })[];
  trustedProxies: string[];
  allowedHosts: string[];
  path: PathOptions;
  limits: {
    maxHeaderBytes: number;
    maxHeaders: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxBodyBytes: number;
  };
  redisUrl: string | null;
  policyFiles: string[];
  policyUrl: string | null;
  identityKeyFile: string | null;
  assertionTtlSeconds: number;
  jwksCooldownSeconds: number;
  rateLimitMaxKeys: number;
  auditAllowSampleRate: number;
  hstsMaxAgeSeconds: number;
  adminTokens: { sha256: string; role: 'viewer' | 'operator' }[];
  adminOperators: string[];
  adminViewers: string[];
  revocationFeed: { url: string | null; credentialsFile: string | null; intervalSeconds: number };
}

const bool = (def: boolean, description: string): JsonSchema => ({
  type: 'boolean',
  default: def,
  description,
});
const int = (def: number, min: number, max: number, description: string): JsonSchema => ({
  type: 'integer',
  minimum: min,
  maximum: max,
  default: def,
  description,
});

export const GATEWAY_CONFIG: Record<string, JsonSchema> = {
  publicPort: int(
    8443,
    0,
    65535,
    'Port of the public listener (the entry point; HTTPS when `server.tls.enabled`). The component port serves the admin API.',
  ),
  publicHost: {
    type: ['string', 'null'],
    default: null,
    description: 'Address of the public listener; null uses `server.host`.',
  },
  workers: int(
    1,
    0,
    64,
    'Processes serving the public port (SO_REUSEPORT, the kernel spreads connections); 0: one per CPU. In-memory rate limits (`store: memory`) and concurrency limits count in the component for all of them (one IPC round trip per limited request in a worker); `store: process` rules count in each process alone.',
  ),
  h2c: {
    type: 'boolean',
    default: false,
    description:
      'Without TLS on the public port (`server.tls.enabled` false, e.g. behind a load balancer that terminates TLS): also serve HTTP/2 by prior knowledge (h2c, as gRPC clients speak it) beside HTTP/1.1 on the same port. Ignored with TLS, where HTTP/2 is negotiated by ALPN.',
  },
  routesFile: {
    type: ['string', 'null'],
    default: null,
    description:
      'The YAML route file (services, routes, consumers), reloaded on change. Null means `<home>/gateway/routes.yaml`; a missing file means no routes (every request 404).',
  },
  issuers: {
    type: 'array',
    default: [],
    description: 'OIDC issuers whose JWT access tokens are accepted. No issuer means no token is accepted.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['issuer', 'audiences'],
      properties: {
        issuer: { type: 'string', pattern: '^https://', description: 'Exact `iss` value.' },
        jwksUri: {
          type: 'string',
          pattern: '^https://',
          description: 'JWKS URL; found by OIDC Discovery when absent.',
        },
        audiences: {
          type: 'array',
          minItems: 1,
          items: { type: 'string' },
          description: 'Accepted `aud` values.',
        },
        algorithms: {
          type: 'array',
          default: ['ES256', 'EdDSA', 'RS256', 'PS256'],
          items: {
            type: 'string',
            enum: [
              'ES256',
              'ES384',
              'ES512',
              'EdDSA',
              'Ed25519',
              'RS256',
              'RS384',
              'RS512',
              'PS256',
              'PS384',
              'PS512',
            ],
          },
          description: 'Signature algorithms accepted from this issuer (asymmetric only).',
        },
        typ: {
          type: 'string',
          default: 'at+jwt',
          description: 'Required `typ` header (RFC 9068); keeps ID tokens out.',
        },
        clockSkewSeconds: int(30, 0, 300, 'Tolerance on `exp`/`nbf`.'),
        rolesClaim: { type: 'string', default: 'roles', description: 'Claim holding the roles.' },
        tenantClaim: { type: 'string', default: 'tenant', description: 'Claim holding the tenant.' },
        caFile: {
          type: ['string', 'null'],
          default: null,
          description: 'CA certificate trusted for the issuer (null: the local CA).',
        },
        introspection: {
          type: ['object', 'null'],
          default: null,
          description:
            "RFC 7662 token introspection for this issuer's opaque (non-JWT) access tokens. Null: only JWTs are accepted from it.",
          additionalProperties: false,
          required: ['endpoint', 'clientId', 'clientSecretFile'],
          properties: {
            endpoint: { type: 'string', pattern: '^https://', description: 'The introspection endpoint.' },
            clientId: { type: 'string', minLength: 1, description: "The gateway's client id at the issuer." },
            clientSecretFile: {
              type: 'string',
              minLength: 1,
              description: 'File holding the client secret (client_secret_basic); kept out of the config.',
            },
            tokenPrefix: {
              type: ['string', 'null'],
              default: null,
              description:
                "Only tokens starting with this are sent to this endpoint. Null: every opaque token (set it when several issuers introspect, so no issuer sees the others' tokens).",
            },
            cacheSeconds: int(
              300,
              1,
              3600,
              'Longest an active answer is reused (never past the token `exp`).',
            ),
            negativeCacheSeconds: int(10, 0, 300, 'How long an inactive answer is reused.'),
          },
        },
      },
    },
  },
  trustedProxies: {
    type: 'array',
    default: [],
    items: { type: 'string' },
    description:
      'CIDRs of proxies whose X-Forwarded-For is believed (read from the right). Empty: the TCP peer is the client.',
  },
  allowedHosts: {
    type: 'array',
    default: [],
    items: { type: 'string' },
    description: 'Hosts served; others get 421. Empty: any well-formed Host.',
  },
  path: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'Canonical path rules (refusals of ambiguous encodings).',
    properties: {
      rejectEncodedSlash: bool(true, 'Refuse `%2F` in paths.'),
      rejectEncodedBackslash: bool(true, 'Refuse `%5C` in paths.'),
      rejectNul: bool(true, 'Refuse `%00` in paths.'),
      rejectDoubleEncoding: bool(true, 'Refuse percent-encoded `%` followed by hex (double encoding).'),
      rejectPathParameters: bool(true, 'Refuse `;` in paths (path parameters).'),
    },
  },
  limits: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'Request limits of the public listener.',
    properties: {
      maxHeaderBytes: int(16384, 1024, 65536, 'Largest header block (431 beyond).'),
      maxHeaders: int(100, 10, 1000, 'Most header fields.'),
      headersTimeoutMs: int(10000, 100, 120000, 'Time to receive the headers (slowloris).'),
      requestTimeoutMs: int(30000, 100, 600000, 'Time to receive the whole request.'),
      keepAliveTimeoutMs: int(5000, 100, 120000, 'Idle keep-alive time.'),
      maxBodyBytes: int(1048576, 0, 104857600, 'Largest body unless the route sets less.'),
    },
  },
  redisUrl: {
    type: ['string', 'null'],
    default: null,
    description: 'Redis for shared rate limits (`store: redis` rules). Null: memory only.',
  },
  policyFiles: {
    type: 'array',
    default: [],
    items: { type: 'string' },
    description:
      'Cedar policy files or directories for route authorization (until `policy` distributes bundles).',
  },
  policyUrl: {
    type: ['string', 'null'],
    default: null,
    description: 'Base URL of `policy`, polled for bundles. Null: `policyFiles` only.',
  },
  identityKeyFile: {
    type: ['string', 'null'],
    default: null,
    description:
      'Ed25519 PKCS#8 PEM signing the internal identity assertions. Null: a fresh key per start, shared by the workers (upstreams read `/v1/gateway/jwks.json`).',
  },
  assertionTtlSeconds: int(60, 5, 600, 'Lifetime of the internal identity assertion sent upstream.'),
  jwksCooldownSeconds: int(30, 0, 3600, 'Least time between JWKS refreshes triggered by unknown `kid`s.'),
  rateLimitMaxKeys: int(
    200_000,
    1_000,
    100_000_000,
    'Keys (clients, header values) one in-memory rate-limit rule keeps at most (~200 bytes each); beyond, the least recently used makes room, as in a full nginx limit_req zone.',
  ),
  auditAllowSampleRate: {
    type: 'number',
    minimum: 0,
    maximum: 1,
    default: 0.01,
    description: 'Fraction of allowed requests written to the audit log (every denial is).',
  },
  hstsMaxAgeSeconds: int(63072000, 0, 126144000, 'HSTS max-age on the HTTPS listener.'),
  revocationFeed: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description:
      "identity's revocation feed, polled so revoked tokens and grants are refused without a push.",
    properties: {
      url: { type: ['string', 'null'], default: null, description: 'identity base URL. Null: pushes only.' },
      credentialsFile: {
        type: ['string', 'null'],
        default: null,
        description:
          'JSON `{clientId, clientSecret, resource, scope}` of a service account allowed to read revocations (null: `<home>/identity/revocation-reader.json`, which identity writes on first start for `bulwark-revocation-reader`, holding `identity:revocations:read` only).',
      },
      intervalSeconds: int(2, 1, 300, 'Time between polls.'),
    },
  },
  adminOperators: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: ['spiffe://bulwark.local/service/operator'],
    description:
      'SPIFFE IDs (a trailing `*` matches a prefix) that may read and change the gateway through its admin API when it serves mTLS (under `bulwark up`: the operator SVID the CLI presents). No token needed.',
  },
  adminViewers: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: [],
    description:
      'SPIFFE IDs that may read the admin API (routes, stages, metrics) when the gateway serves mTLS.',
  },
  adminTokens: {
    type: 'array',
    default: [],
    description:
      'Admin API bearer tokens, as SHA-256 hex, with a role (`viewer` reads, `operator` also changes), for callers without a listed SPIFFE ID (and for a gateway run alone, without mTLS). Empty, with no listed caller: only `jwks.json` answers.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['sha256', 'role'],
      properties: {
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        role: { type: 'string', enum: ['viewer', 'operator'] },
      },
    },
  },
};

/** The validated section, typed (the config loader has already applied defaults). */
export function gatewayConfig(section: ComponentSectionConfig): GatewayConfig {
  return section as unknown as GatewayConfig;
}
