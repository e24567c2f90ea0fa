/**
 * Checks JWT access tokens from any configured OIDC issuer (RFC 9068 profile, JWT BCP RFC 8725): issuer
 * picked by exact `iss`, algorithm from the issuer's allow-list (never `none`, never HMAC with a public
 * key), key from the issuer's JWKS only (no `jku`, `x5u`, `jwk` or `x5c` from the token), `iss`/`aud`/
 * `exp`/`nbf`/`typ` with bounded skew. A verified token is cached (bounded, keyed by its SHA-256, until
 * `exp`); revocation is checked on every use. Trusts: nothing in the token until the signature verifies.
 */
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { Dispatcher } from 'undici';
import type { Clock } from '../../core/index.ts';
import type { Principal } from '../context.ts';
import { JwksCache, KeyNotFound } from './jwks-cache.ts';
import type { RevocationList } from './revocation-list.ts';
import {
  type IntrospectionConfig,
  IntrospectionRefused,
  looksLikeJwt,
  TokenIntrospector,
} from './token-introspection.ts';

export interface IssuerConfig {
  issuer: string;
  jwksUri?: string;
  audiences: string[];
  algorithms: string[];
  /** Required `typ` header (RFC 9068 §2.1: `at+jwt`), so an ID token is not accepted as an access token. */
  typ: string;
  clockSkewSeconds: number;
  rolesClaim: string;
  tenantClaim: string;
  /** RFC 7662 introspection for this issuer's opaque (non-JWT) tokens; absent: only JWTs. */
  introspection?: IntrospectionConfig;
}

export type AuthFailure =
  | 'malformed'
  | 'forbidden_header'
  | 'alg_not_allowed'
  | 'unknown_issuer'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'wrong_type'
  | 'missing_claim'
  | 'revoked'
  | 'inactive'
  | 'introspection_failed'
  | 'invalid';

export class AuthenticationFailed extends Error {
  readonly reason: AuthFailure;
  constructor(reason: AuthFailure) {
    super(reason);
    this.reason = reason;
  }
}

/** RFC 8725 §3.1 and §3.10: header members that would let the token choose its own key. */
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'];
const MAX_TOKEN_LENGTH = 8192;
/** Asymmetric algorithms only: HMAC with a published key is the RS256->HS256 confusion attack. */
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

interface CachedToken {
  principal: Principal;
  audiences: readonly string[];
  expiresAt: number;
}

export class JwtAuthenticator {
  readonly #issuers = new Map<string, { config: IssuerConfig; jwks: JwksCache }>();
  readonly #cache = new Map<string, CachedToken>();
  readonly #clock: Clock;
  readonly #revocations: RevocationList;
  readonly #maxCached: number;
  /** Present when an issuer configures introspection. */
  readonly introspector: TokenIntrospector | undefined;

  constructor(options: {
    issuers: readonly IssuerConfig[];
    clock: Clock;
    revocations: RevocationList;
    dispatcher?: Dispatcher;
    maxCached?: number;
    jwksCooldownMs?: number;
  }) {
    this.#clock = options.clock;
    this.#revocations = options.revocations;
    this.#maxCached = options.maxCached ?? 50_000;
    for (const config of options.issuers) {
      const bad = config.algorithms.filter((a) => !ASYMMETRIC.test(a));
      if (bad.length)
        throw new TypeError(`issuer ${config.issuer}: algorithms not allowed: ${bad.join(', ')}`);
      const jwks = new JwksCache({
        issuer: config.issuer,
        ...(config.jwksUri ? { jwksUri: config.jwksUri } : {}),
        clock: options.clock,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        ...(options.jwksCooldownMs !== undefined ? { cooldownMs: options.jwksCooldownMs } : {}),
      });
      this.#issuers.set(config.issuer, { config, jwks });
    }
    const introspecting = options.issuers.flatMap((i) =>
      i.introspection ? [{ ...i, introspection: i.introspection }] : [],
    );
    this.introspector = introspecting.length
      ? new TokenIntrospector({
          issuers: introspecting,
          clock: options.clock,
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
          maxCached: this.#maxCached,
        })
      : undefined;
  }

  jwks(issuer: string): JwksCache | undefined {
    return this.#issuers.get(issuer)?.jwks;
  }

  /** Verifies `token` and returns the caller with the token's audiences; throws {@link AuthenticationFailed}. */
  async authenticate(token: string): Promise<{ principal: Principal; audiences: readonly string[] }> {
    if (this.introspector && !looksLikeJwt(token)) return this.#introspect(this.introspector, token);
    const now = this.#clock.now();
    const digest = createHash('sha256').update(token).digest('base64url');
    const hit = this.#cache.get(digest);
    if (hit) {
      if (hit.expiresAt > now) {
        if (this.#revocations.isRevoked(hit.principal.jti, hit.principal.grant))
          throw new AuthenticationFailed('revoked');
        return hit;
      }
      this.#cache.delete(digest);
    }
    const verified = await this.#verify(token, now);
    if (this.#revocations.isRevoked(verified.principal.jti, verified.principal.grant))
      throw new AuthenticationFailed('revoked');
    if (this.#cache.size >= this.#maxCached) {
      // Oldest first (Map keeps insertion order): bounded memory whatever the token churn.
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    this.#cache.set(digest, verified);
    return verified;
  }

  async #introspect(introspector: TokenIntrospector, token: string) {
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthenticationFailed('malformed');
    let found: Awaited<ReturnType<TokenIntrospector['authenticate']>>;
    try {
      found = await introspector.authenticate(token);
    } catch (err) {
      if (err instanceof IntrospectionRefused) throw new AuthenticationFailed(err.reason);
      throw err;
    }
    // Pushed revocations apply to introspected tokens too (between two introspections of a cached token).
    if (this.#revocations.isRevoked(found.principal.jti, found.principal.grant))
      throw new AuthenticationFailed('revoked');
    return found;
  }

  async #verify(token: string, now: number): Promise<CachedToken> {
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthenticationFailed('malformed');
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new AuthenticationFailed('malformed');
    }
    if (KEY_BEARING_HEADERS.some((h) => h in header)) throw new AuthenticationFailed('forbidden_header');
    const entry = typeof unverified.iss === 'string' ? this.#issuers.get(unverified.iss) : undefined;
    if (!entry) throw new AuthenticationFailed('unknown_issuer');
    const { config, jwks } = entry;
    if (typeof header.alg !== 'string' || !config.algorithms.includes(header.alg)) {
      throw new AuthenticationFailed('alg_not_allowed');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (h) => jwks.key(h), {
        issuer: config.issuer,
        audience: config.audiences,
        algorithms: config.algorithms,
        clockTolerance: config.clockSkewSeconds,
        typ: config.typ,
        currentDate: new Date(now),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw new AuthenticationFailed(failureOf(err));
    }
    // RFC 7519 §4.1.2: a StringOrURI. jose checks only that it is there; an object or array would reach
    // headers, limit keys and policies as "[object Object]" or "a,b".
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new AuthenticationFailed('invalid');
    const roles = claimList(payload[config.rolesClaim]);
    const tenant =
      typeof payload[config.tenantClaim] === 'string' ? (payload[config.tenantClaim] as string) : 'default';
    const clientId =
      typeof payload['client_id'] === 'string'
        ? payload['client_id']
        : typeof payload['azp'] === 'string'
          ? payload['azp']
          : undefined;
    const subject = payload.sub;
    const principal: Principal = {
      kind: clientId !== undefined && clientId === subject ? 'service-account' : 'user',
      subject,
      roles,
      tenant,
      ...(clientId !== undefined ? { clientId } : {}),
      issuer: config.issuer,
      ...(typeof payload.jti === 'string' ? { jti: payload.jti } : {}),
      ...(typeof payload['gid'] === 'string' ? { grant: payload['gid'] } : {}),
      expiresAt: (payload.exp as number) * 1000,
      amr: claimList(payload['amr']),
      consumer: clientId ?? 'unknown',
    };
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud as string];
    return { principal, audiences, expiresAt: principal.expiresAt as number };
  }
}

function claimList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  return [];
}

function failureOf(err: unknown): AuthFailure {
  if (err instanceof KeyNotFound) return 'unknown_key';
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'not_yet_valid';
    if (err.claim === 'aud' || err.claim === 'iss') return 'wrong_audience';
    if (err.claim === 'typ') return 'wrong_type';
    if (err.reason === 'missing') return 'missing_claim';
    return 'invalid';
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'alg_not_allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed';
  return 'invalid';
}
