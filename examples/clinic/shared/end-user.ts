/**
 * Who the end user is, as the gateway says. The gateway never forwards the caller's token: it sends
 * `x-bulwark-identity`, a short-lived EdDSA JWT (RFC 8037) with `typ: bulwark-id+jwt`, `iss:
 * bulwark-gateway` and `aud` = the service, signed with a key published at the gateway's
 * `GET /v1/gateway/jwks.json`. The convenience headers `x-bulwark-subject` / `-roles` are NOT read here:
 * they are unsigned and only as good as the hop they came over.
 *
 * A service accepts a user request only when BOTH hold:
 * - the transport peer is the gateway's SPIFFE ID (mTLS verified by the SDK server, or the header the
 *   service's own sidecar sets after verifying the SVID), so no other workload can speak for a user;
 * - the assertion verifies (signature, typ, iss, aud = this service, exp/iat within a small skew), so a
 *   compromised peer other than the gateway, or a replay to another service, is refused too.
 *
 * Plain node:crypto and node:https, nothing from Bulwark: `billing` uses it as any language would.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { request } from 'node:https';
import { ClinicError } from './http.ts';

export const ASSERTION_HEADER = 'x-bulwark-identity';
const TYP = 'bulwark-id+jwt';
const ISSUER = 'bulwark-gateway';
const SKEW_SECONDS = 30;
/** A refresh on an unknown `kid` at most this often: a forged kid must not turn into a fetch storm. */
const REFRESH_COOLDOWN_MS = 10_000;

export type ClinicRole = 'patient' | 'doctor' | 'billing-clerk' | 'admin';
export const CLINIC_ROLES: readonly ClinicRole[] = ['patient', 'doctor', 'billing-clerk', 'admin'];

export interface EndUser {
  /** The identity provider's `sub`; for a patient it is also their patient record id. */
  subject: string;
  roles: ReadonlySet<string>;
  tenant: string;
}

export interface Jwk {
  kty: string;
  crv?: string;
  x?: string;
  kid?: string;
  alg?: string;
}

/** Where the gateway's public keys come from: given inline (tests, pinned), or fetched from its JWKS URL. */
export type JwksSource = { keys: readonly Jwk[] } | { url: string; ca?: string };

export interface EndUserVerifierOptions {
  /** This service's audience (the gateway route file's `audience`, default the service name). */
  audience: string;
  jwks: JwksSource;
  /** SPIFFE ID the gateway's calls arrive from. */
  gatewayPeer: string;
  now?: () => number;
}

export class EndUserVerifier {
  readonly #o: EndUserVerifierOptions;
  readonly #now: () => number;
  #keys = new Map<string, KeyObject>();
  #lastFetch = Number.NEGATIVE_INFINITY;

  constructor(options: EndUserVerifierOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    if ('keys' in options.jwks) this.#keys = toKeys(options.jwks.keys);
  }

  /** The end user of a request that came over `peer` (a verified SPIFFE ID) with `assertion`. */
  async verify(peer: string | undefined, assertion: string | string[] | undefined): Promise<EndUser> {
    if (peer !== this.#o.gatewayPeer)
      throw new ClinicError(
        'clinic_not_from_gateway',
        403,
        'user requests are accepted from the gateway only',
      );
    if (typeof assertion !== 'string')
      throw new ClinicError('clinic_unauthenticated', 401, 'no identity assertion');
    const parts = assertion.split('.');
    if (parts.length !== 3) throw unauthenticated();
    const header = decodePart(parts[0]!);
    const claims = decodePart(parts[1]!);
    // RFC 8725 §3.1/§3.11: one algorithm and one explicit type, never what the token asks for.
    if (header['alg'] !== 'EdDSA' || header['typ'] !== TYP || typeof header['kid'] !== 'string')
      throw unauthenticated();
    const key = await this.#key(header['kid']);
    const ok = verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, 'base64url'));
    if (!ok) throw unauthenticated();
    const now = Math.floor(this.#now() / 1000);
    const aud = claims['aud'];
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (
      claims['iss'] !== ISSUER ||
      !audiences.includes(this.#o.audience) ||
      typeof claims['exp'] !== 'number' ||
      claims['exp'] + SKEW_SECONDS < now ||
      (typeof claims['iat'] === 'number' && claims['iat'] - SKEW_SECONDS > now) ||
      typeof claims['sub'] !== 'string' ||
      claims['sub'].length === 0
    )
      throw unauthenticated();
    const roles = Array.isArray(claims['roles']) ? claims['roles'].filter((r) => typeof r === 'string') : [];
    return {
      subject: claims['sub'],
      roles: new Set(roles as string[]),
      tenant: typeof claims['tenant'] === 'string' ? claims['tenant'] : 'default',
    };
  }

  async #key(kid: string): Promise<KeyObject> {
    let key = this.#keys.get(kid);
    const source = this.#o.jwks;
    if (!key && 'url' in source && this.#now() - this.#lastFetch >= REFRESH_COOLDOWN_MS) {
      this.#lastFetch = this.#now();
      try {
        this.#keys = toKeys(await fetchJwks(source.url, source.ca));
      } catch {
        throw new ClinicError('clinic_gateway_keys_unavailable', 503, 'the gateway keys could not be read');
      }
      key = this.#keys.get(kid);
    }
    if (!key) throw unauthenticated();
    return key;
  }
}

const unauthenticated = () =>
  new ClinicError('clinic_unauthenticated', 401, 'the identity assertion is not valid');

function decodePart(part: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value && typeof value === 'object') return value as Record<string, unknown>;
  } catch {}
  throw unauthenticated();
}

function toKeys(jwks: readonly Jwk[]): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const jwk of jwks) {
    // Only Ed25519 signing keys: an RSA or symmetric entry can never be used to accept an assertion.
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.kid) continue;
    keys.set(
      jwk.kid,
      createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x ?? '' }, format: 'jwk' }),
    );
  }
  return keys;
}

function fetchJwks(url: string, ca?: string): Promise<Jwk[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: 5000, ...(ca ? { ca } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (text.length > 64 * 1024) req.destroy(new Error('jwks too large'));
      });
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`jwks answered ${res.statusCode}`);
          resolve((JSON.parse(text) as { keys: Jwk[] }).keys);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('jwks timed out')));
    req.on('error', reject);
    req.end();
  });
}

export function hasRole(user: EndUser, role: ClinicRole): boolean {
  return user.roles.has(role);
}
