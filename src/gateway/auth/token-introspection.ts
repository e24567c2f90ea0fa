/**
 * Opaque (non-JWT) access tokens, checked by OAuth 2.0 Token Introspection (RFC 7662) at the issuer that
 * configured an introspection endpoint, with the gateway's client credentials. Results are cached in a
 * bounded map keyed by the token's SHA-256 (the token itself is never stored, logged or sent anywhere but
 * the introspection endpoint): an active token until its `exp` or `cacheSeconds`, whichever comes first;
 * an inactive one for `negativeCacheSeconds`, so a flood of junk tokens costs one call each per interval.
 * Concurrent checks of one token share one call. Trusts: only the endpoint's answer, over TLS, to the
 * gateway's authenticated request; `iss`, `aud`, `exp` and `nbf` in the answer are still checked.
 */
import { createHash } from 'node:crypto';
import { type Dispatcher, request } from 'undici';
import type { Clock } from '../../core/index.ts';
import type { Principal } from '../context.ts';

export interface IntrospectionConfig {
  /** The RFC 7662 endpoint (HTTPS). */
  endpoint: string;
  clientId: string;
  clientSecret: string;
  /** Only tokens starting with this go to this endpoint (keeps one issuer's tokens away from another). */
  tokenPrefix?: string;
  /** Longest an active answer is reused (default 300 s); never beyond the token's `exp`. */
  cacheSeconds?: number;
  /** How long an inactive answer is reused (default 10 s). */
  negativeCacheSeconds?: number;
}

export interface IntrospectingIssuer {
  issuer: string;
  audiences: readonly string[];
  clockSkewSeconds: number;
  rolesClaim: string;
  tenantClaim: string;
  introspection: IntrospectionConfig;
}

export interface Introspected {
  principal: Principal;
  audiences: readonly string[];
}

/** Why an opaque token is refused (mapped to the authenticator's failure reasons). */
export class IntrospectionRefused extends Error {
  readonly reason: 'inactive' | 'expired' | 'not_yet_valid' | 'wrong_audience' | 'introspection_failed';
  constructor(reason: IntrospectionRefused['reason']) {
    super(reason);
    this.reason = reason;
  }
}

type Entry = { result: Introspected | IntrospectionRefused; expiresAt: number };

const MAX_ANSWER_BYTES = 64 * 1024;

export class TokenIntrospector {
  readonly #issuers: readonly IntrospectingIssuer[];
  readonly #clock: Clock;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #maxCached: number;
  readonly #timeoutMs: number;
  readonly #cache = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Entry>>();
  /** Calls made to introspection endpoints (tests and metrics). */
  calls = 0;

  constructor(options: {
    issuers: readonly IntrospectingIssuer[];
    clock: Clock;
    dispatcher?: Dispatcher;
    maxCached?: number;
    timeoutMs?: number;
  }) {
    for (const i of options.issuers) {
      if (!i.introspection.endpoint.startsWith('https://'))
        throw new TypeError(`issuer ${i.issuer}: the introspection endpoint must be https`);
    }
    this.#issuers = options.issuers;
    this.#clock = options.clock;
    this.#dispatcher = options.dispatcher;
    this.#maxCached = options.maxCached ?? 50_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Resolves the caller behind an opaque token or throws {@link IntrospectionRefused}. */
  async authenticate(token: string): Promise<Introspected> {
    const digest = createHash('sha256').update(token).digest('base64url');
    let entry = this.#cache.get(digest);
    if (!entry || entry.expiresAt <= this.#clock.now()) {
      if (entry) this.#cache.delete(digest);
      let pending = this.#pending.get(digest);
      if (!pending) {
        pending = this.#lookUp(token).finally(() => this.#pending.delete(digest));
        this.#pending.set(digest, pending);
      }
      entry = await pending;
      // An unreachable endpoint is not an answer: it is not cached, the next request asks again.
      if (!(entry.result instanceof IntrospectionRefused && entry.result.reason === 'introspection_failed')) {
        if (this.#cache.size >= this.#maxCached)
          this.#cache.delete(this.#cache.keys().next().value as string);
        this.#cache.set(digest, entry);
      }
    }
    if (entry.result instanceof IntrospectionRefused) throw entry.result;
    const expiresAt = entry.result.principal.expiresAt;
    if (expiresAt !== undefined && expiresAt <= this.#clock.now()) throw new IntrospectionRefused('expired');
    return entry.result;
  }

  async #lookUp(token: string): Promise<Entry> {
    const candidates = this.#issuers.filter((i) => {
      const prefix = i.introspection.tokenPrefix;
      return prefix === undefined || token.startsWith(prefix);
    });
    let last: Entry = this.#refusal('inactive');
    for (const issuer of candidates) {
      last = await this.#ask(issuer, token);
      if (!(last.result instanceof IntrospectionRefused)) return last;
    }
    return last;
  }

  async #ask(issuer: IntrospectingIssuer, token: string): Promise<Entry> {
    const config = issuer.introspection;
    this.calls++;
    let answer: Record<string, unknown>;
    try {
      const res = await request(config.endpoint, {
        method: 'POST',
        headers: {
          // RFC 7662 §2.1 with client_secret_basic (RFC 6749 §2.3.1: each part form-urlencoded first).
          authorization: `Basic ${Buffer.from(`${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        // The two timeouts above bound silences only: an answer trickling in a byte at a time held the
        // request (and every request with that token) open for good. One deadline for the exchange.
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
      const declared = Number(res.headers['content-length'] ?? 0);
      if (res.statusCode !== 200 || declared > MAX_ANSWER_BYTES) {
        await res.body.dump();
        return this.#refusal('introspection_failed');
      }
      // Counted while read: a chunked answer has no content-length, and body.text() would hold it whole.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_ANSWER_BYTES) return this.#refusal('introspection_failed');
        chunks.push(chunk as Buffer);
      }
      const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        return this.#refusal('introspection_failed');
      answer = parsed as Record<string, unknown>;
    } catch {
      return this.#refusal('introspection_failed');
    }
    return this.#judge(issuer, answer);
  }

  #judge(issuer: IntrospectingIssuer, a: Record<string, unknown>): Entry {
    const config = issuer.introspection;
    const now = this.#clock.now();
    const skew = issuer.clockSkewSeconds * 1000;
    // RFC 7662 §2.2: `active` is REQUIRED; anything but boolean true means the token is not usable.
    if (a['active'] !== true) return this.#negative(config);
    if (a['iss'] !== undefined && a['iss'] !== issuer.issuer) return this.#negative(config);
    if (typeof a['exp'] !== 'number' || a['exp'] * 1000 + skew <= now)
      return this.#negative(config, 'expired');
    if (typeof a['nbf'] === 'number' && a['nbf'] * 1000 - skew > now)
      return this.#negative(config, 'not_yet_valid');
    const audiences = claimList(a['aud']);
    // A token minted for another API of the same issuer is not accepted here (as for JWTs).
    if (!audiences.some((aud) => issuer.audiences.includes(aud)))
      return this.#negative(config, 'wrong_audience');
    const subject = typeof a['sub'] === 'string' ? a['sub'] : undefined;
    const clientId = typeof a['client_id'] === 'string' ? a['client_id'] : undefined;
    if (subject === undefined && clientId === undefined) return this.#negative(config);
    const tenant = a[issuer.tenantClaim];
    const principal: Principal = {
      kind: subject === undefined || subject === clientId ? 'service-account' : 'user',
      subject: subject ?? (clientId as string),
      // RFC 7662 §2.2: `scope` is space-separated; roles come from the configured claim.
      roles: claimList(a[issuer.rolesClaim]),
      tenant: typeof tenant === 'string' ? tenant : 'default',
      ...(clientId !== undefined ? { clientId } : {}),
      issuer: issuer.issuer,
      ...(typeof a['jti'] === 'string' ? { jti: a['jti'] } : {}),
      expiresAt: a['exp'] * 1000,
      amr: [],
      consumer: clientId ?? 'unknown',
    };
    const maxAge = (config.cacheSeconds ?? 300) * 1000;
    return {
      result: { principal, audiences },
      expiresAt: Math.min(now + maxAge, principal.expiresAt as number),
    };
  }

  #negative(config: IntrospectionConfig, reason: IntrospectionRefused['reason'] = 'inactive'): Entry {
    return this.#refusal(reason, (config.negativeCacheSeconds ?? 10) * 1000);
  }

  #refusal(reason: IntrospectionRefused['reason'], ttlMs = 0): Entry {
    return { result: new IntrospectionRefused(reason), expiresAt: this.#clock.now() + ttlMs };
  }
}

/** True when `token` has the shape of a compact JWS (three base64url parts): those are verified locally. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

function claimList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  return [];
}
