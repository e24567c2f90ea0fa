/**
 * The internal identity assertion sent upstream instead of the caller's token (which never leaves the
 * gateway): a short-lived EdDSA JWT (RFC 8037) with the subject, roles, tenant and client, audience-bound to
 * the upstream service. Signed assertions are reused for half their lifetime per caller and audience, so a
 * repeat caller costs a map lookup. Trusts: the principal established by the authenticate stage.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import type { Clock } from '../../core/index.ts';
import type { Principal } from '../context.ts';

export const IDENTITY_HEADER = 'x-bulwark-identity';
export const ASSERTION_TYP = 'bulwark-id+jwt';
export const ASSERTION_ISSUER = 'bulwark-gateway';

export interface AssertionSigner {
  /** The assertion for this caller and audience (cached until half its lifetime has passed). */
  assertion(principal: Principal, audience: string): string;
  /** The public key set upstreams verify with. */
  jwks(): { keys: object[] };
}

/** Visible ASCII except `%` and `,`: a claim like this goes into a convenience header as it is. */
const PLAIN_HEADER_TEXT = /^[!-$&-+\--~]*$/;

/**
 * A claim as the value of `x-bulwark-subject`, `-tenant` or one item of `-roles`: as it is when plain,
 * else percent-encoded (RFC 3986, UTF-8). A header cannot carry most of Unicode (undici refused it, the
 * caller got 502 and the upstream's circuit breaker counted a failure), a comma would split one role into
 * two, and a leading or trailing space would be trimmed by the upstream's parser. `%` is encoded too, so
 * decoding always gives back the claim. The signed assertion carries the claims unencoded.
 *
 * @example
 * identityHeaderText('alice'); // 'alice'
 * identityHeaderText('viewer,admin'); // 'viewer%2Cadmin'
 */
export function identityHeaderText(claim: string): string {
  return PLAIN_HEADER_TEXT.test(claim) ? claim : encodeURIComponent(claim.toWellFormed());
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

export class Ed25519AssertionSigner implements AssertionSigner {
  readonly #key: KeyObject;
  readonly #publicJwk: Record<string, unknown>;
  readonly #kid: string;
  readonly #clock: Clock;
  readonly #ttlSeconds: number;
  readonly #cache = new Map<string, { token: string; renewAt: number }>();
  readonly #maxEntries: number;

  /** `privateKeyPem` from a file; a fresh key per process when absent (upstreams fetch the JWKS). */
  constructor(
    clock: Clock,
    options: { privateKeyPem?: string; ttlSeconds?: number; maxEntries?: number } = {},
  ) {
    this.#clock = clock;
    this.#ttlSeconds = options.ttlSeconds ?? 60;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#key = options.privateKeyPem
      ? createPrivateKey(options.privateKeyPem)
      : generateKeyPairSync('ed25519').privateKey;
    const jwk = createPublicKey(this.#key).export({ format: 'jwk' }) as Record<string, unknown>;
    // RFC 7638 thumbprint as key id.
    this.#kid = createHash('sha256')
      .update(JSON.stringify({ crv: jwk['crv'], kty: jwk['kty'], x: jwk['x'] }))
      .digest('base64url');
    this.#publicJwk = { ...jwk, kid: this.#kid, alg: 'EdDSA', use: 'sig' };
  }

  jwks(): { keys: object[] } {
    return { keys: [this.#publicJwk] };
  }

  assertion(principal: Principal, audience: string): string {
    const now = this.#clock.now();
    // Everything the assertion carries is in the key: a caller whose roles change gets a new assertion.
    const key = [
      principal.kind,
      principal.subject,
      principal.jti ?? '',
      audience,
      principal.tenant,
      principal.clientId ?? '',
      principal.expiresAt ?? 0,
      ...principal.roles,
    ].join('\u0000');
    const hit = this.#cache.get(key);
    if (hit && hit.renewAt > now) return hit.token;
    const iat = Math.floor(now / 1000);
    // Never outlive the caller's own token.
    const exp = Math.min(
      iat + this.#ttlSeconds,
      principal.expiresAt ? Math.floor(principal.expiresAt / 1000) : Infinity,
    );
    const header = b64({ alg: 'EdDSA', typ: ASSERTION_TYP, kid: this.#kid });
    const payload = b64({
      iss: ASSERTION_ISSUER,
      aud: audience,
      sub: principal.subject,
      roles: principal.roles,
      tenant: principal.tenant,
      ...(principal.clientId ? { client_id: principal.clientId } : {}),
      kind: principal.kind,
      iat,
      exp,
    });
    const input = `${header}.${payload}`;
    const token = `${input}.${sign(null, Buffer.from(input), this.#key).toString('base64url')}`;
    if (this.#cache.size >= this.#maxEntries) this.#cache.clear();
    this.#cache.set(key, { token, renewAt: now + ((exp - iat) * 1000) / 2 });
    return token;
  }
}
