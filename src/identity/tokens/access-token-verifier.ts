/**
 * Local verification of Bulwark access tokens (RFC 9068 §4): signature by a published key, `typ` at+jwt,
 * issuer, expiry, optional audience, and Bulwark's revocation list. Used by introspection, revocation and
 * the admin API; gateways do the same with the JWKS and `GET /revocations`.
 */
import { createLocalJWKSet, type JWK, type JWTPayload, jwtVerify } from 'jose';
import type { Clock } from '../../core/index.ts';
import type { RevocationList } from './revocation-list.ts';

export interface AccessTokenClaims extends JWTPayload {
  client_id: string;
  scope?: string;
  roles?: string[];
  gid?: string;
  acr?: string;
  amr?: string[];
}

/** Verified tokens kept so that a repeated check costs a lookup, not an ES256 verification (~100 µs). */
const CACHE_MAX = 10_000;

export class AccessTokenVerifier {
  #jwks: ReturnType<typeof createLocalJWKSet>;
  readonly #cache = new Map<string, AccessTokenClaims>();
  readonly #issuer: string;
  readonly #revocations: RevocationList;
  readonly #clock: Clock;

  constructor(options: { issuer: string; keys: JWK[]; revocations: RevocationList; clock: Clock }) {
    this.#issuer = options.issuer;
    this.#revocations = options.revocations;
    this.#clock = options.clock;
    this.#jwks = createLocalJWKSet({ keys: options.keys });
  }

  /** Called after a key rotation. */
  setKeys(keys: JWK[]): void {
    this.#jwks = createLocalJWKSet({ keys });
    this.#cache.clear();
  }

  /** The verified claims, or null for anything invalid, expired or revoked. */
  async verify(
    token: string,
    options: { audience?: string; checkRevocation?: boolean } = {},
  ): Promise<AccessTokenClaims | null> {
    const cached = this.#cache.get(token);
    if (cached) {
      // Only the signature check is cached: expiry, audience and revocation are checked on every call.
      if (typeof cached.exp !== 'number' || cached.exp * 1000 <= this.#clock.now()) {
        this.#cache.delete(token);
        return null;
      }
      if (options.audience && !audiences(cached).includes(options.audience)) return null;
      if (options.checkRevocation !== false && this.#revocations.isRevoked(cached)) return null;
      return cached;
    }
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.#issuer,
        typ: 'at+jwt', // RFC 9068 §4: reject ID tokens and other JWTs presented as access tokens
        algorithms: ['ES256'],
        currentDate: new Date(this.#clock.now()),
        ...(options.audience ? { audience: options.audience } : {}),
      });
      const claims = payload as AccessTokenClaims;
      if (typeof claims.client_id !== 'string' || typeof claims.jti !== 'string') return null;
      if (this.#cache.size >= CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(token, claims);
      if (options.checkRevocation !== false && this.#revocations.isRevoked(claims)) return null;
      return claims;
    } catch {
      return null;
    }
  }

  /** Signature and issuer only (expired and revoked tokens included), for revocation requests. */
  async verifySignature(token: string): Promise<AccessTokenClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.#issuer,
        typ: 'at+jwt',
        algorithms: ['ES256'],
        currentDate: new Date(0),
        clockTolerance: Number.MAX_SAFE_INTEGER,
      });
      return payload as AccessTokenClaims;
    } catch {
      return null;
    }
  }
}

function audiences(claims: AccessTokenClaims): string[] {
  return Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
}
