/**
 * One issuer's JSON Web Key Set, fetched from its configured `jwks_uri` (or found through OIDC Discovery),
 * cached, refreshed when a token names an unknown `kid` at most once per cooldown (so a flood of forged
 * kids cannot make the gateway hammer the issuer), and re-read after `maxAgeMs`. Trusts: the issuer's
 * HTTPS endpoint (through the given dispatcher's CA); the token header only selects among fetched keys.
 */
import { type CryptoKey, importJWK, type JWK, type JWSHeaderParameters, type KeyObject } from 'jose';
import { type Dispatcher, request } from 'undici';
import type { Clock } from '../../core/index.ts';

const MAX_DOCUMENT_BYTES = 256 * 1024;
/** The JWK key type each (asymmetric) JWS algorithm family needs (RFC 7518 §6, RFC 8037). */
const KTY_OF_ALG = /^(RS|PS|ES|Ed)/;
const KTY = { RS: 'RSA', PS: 'RSA', ES: 'EC', Ed: 'OKP' } as const;

export class KeyNotFound extends Error {
  readonly code = 'unknown_key';
}

export interface JwksCacheOptions {
  issuer: string;
  /** When absent, `<issuer>/.well-known/openid-configuration` gives it (OIDC Discovery §4). */
  jwksUri?: string;
  dispatcher?: Dispatcher;
  clock: Clock;
  cooldownMs?: number;
  maxAgeMs?: number;
  timeoutMs?: number;
}

type Key = CryptoKey | KeyObject | Uint8Array;

export class JwksCache {
  readonly #options: JwksCacheOptions;
  #keys: JWK[] = [];
  #imported = new Map<string, Key>();
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  #jwksUri: string | undefined;
  /** How many times the set was fetched (tests check the refresh rate limit). */
  fetches = 0;

  constructor(options: JwksCacheOptions) {
    this.#options = options;
    this.#jwksUri = options.jwksUri;
  }

  /** The verification key for a token header; refreshes (rate-limited) on an unknown kid. */
  async key(header: JWSHeaderParameters): Promise<Key> {
    const now = this.#options.clock.now();
    const cooledDown = now - this.#attemptedAt >= (this.#options.cooldownMs ?? 30_000);
    // The periodic re-read is rate-limited too: while the issuer is down, a failed re-read leaves the set
    // stale, and without the cooldown every request would wait on (and send) a fetch of its own.
    if (cooledDown && now - this.#fetchedAt > (this.#options.maxAgeMs ?? 600_000)) await this.#refresh(now);
    let jwk = this.#select(header);
    if (!jwk && now - this.#attemptedAt >= (this.#options.cooldownMs ?? 30_000)) {
      await this.#refresh(now);
      jwk = this.#select(header);
    }
    if (!jwk) throw new KeyNotFound('no key in the issuer JWKS matches the token');
    const cacheKey = `${jwk.kid ?? ''}\u0000${header.alg}`;
    let key = this.#imported.get(cacheKey);
    if (!key) {
      key = await importJWK(jwk, header.alg);
      this.#imported.set(cacheKey, key);
    }
    return key;
  }

  #select(header: JWSHeaderParameters): JWK | undefined {
    const kty = KTY_OF_ALG.exec(header.alg ?? '')?.[1];
    const candidates = this.#keys.filter(
      (k) =>
        (k.use === undefined || k.use === 'sig') &&
        // RFC 7517 §4.3: a key whose key_ops do not include verify is not for checking signatures.
        (k.key_ops === undefined || (Array.isArray(k.key_ops) && k.key_ops.includes('verify'))) &&
        // A key of another type cannot verify this alg (and `oct` never matches: asymmetric algs only).
        // Without this, an RSA key that shares the kid with the EC key hid it, and the token failed.
        k.kty === KTY[kty as keyof typeof KTY] &&
        // RFC 7517 §4.4: a key that names its algorithm is used with that algorithm only.
        (k.alg === undefined || k.alg === header.alg) &&
        (header.kid === undefined || k.kid === header.kid),
    );
    // Without a kid, only an unambiguous set is usable.
    return header.kid === undefined && candidates.length !== 1 ? undefined : candidates[0];
  }

  #refresh(now: number): Promise<void> {
    this.#inflight ??= (async () => {
      this.#attemptedAt = now;
      try {
        this.#jwksUri ??= await this.#discover();
        const doc = (await this.#getJson(this.#jwksUri)) as { keys?: unknown };
        if (!Array.isArray(doc.keys)) throw new Error('JWKS has no keys array');
        // RFC 7517 §5: private members must never be published; refuse a set that leaks them.
        this.#keys = (doc.keys as JWK[]).filter((k) => typeof k === 'object' && k !== null && !('d' in k));
        this.#imported = new Map();
        this.#fetchedAt = now;
        this.fetches++;
      } catch {
        // Keep the keys we had: an issuer outage must not log everyone out.
      }
    })().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #discover(): Promise<string> {
    const issuer = this.#options.issuer.replace(/\/$/, '');
    const meta = (await this.#getJson(`${issuer}/.well-known/openid-configuration`)) as Record<
      string,
      unknown
    >;
    // OIDC Discovery §4.3: the issuer in the document must be the one we asked.
    if (meta['issuer'] !== this.#options.issuer) throw new Error('discovery issuer mismatch');
    if (typeof meta['jwks_uri'] !== 'string') throw new Error('discovery has no jwks_uri');
    return meta['jwks_uri'];
  }

  async #getJson(url: string): Promise<unknown> {
    const timeout = this.#options.timeoutMs ?? 5_000;
    const res = await request(url, {
      ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}),
      headersTimeout: timeout,
      bodyTimeout: timeout,
      // headersTimeout and bodyTimeout bound silences only: an answer that trickles in a byte at a time
      // would hold the refresh, and every request waiting on it, for as long as it likes. One deadline
      // for the whole exchange.
      signal: AbortSignal.timeout(timeout),
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`HTTP ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_DOCUMENT_BYTES) throw new Error('document too large');
      chunks.push(chunk as Buffer);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }
}
