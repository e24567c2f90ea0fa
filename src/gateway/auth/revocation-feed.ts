/**
 * Polls identity's revocation feed (`GET /revocations?since=<ms>`) into the gateway's {@link RevocationList},
 * so revoked tokens and grants are refused within one interval even when nobody pushes. The gateway
 * authenticates as a service account with client credentials (RFC 6749 §4.4) for identity's admin resource;
 * the access token is kept in memory until shortly before it expires. A failed poll keeps what is known and
 * is retried at the next tick. Trusts: identity over HTTPS (the dispatcher's CA).
 */
import { type Dispatcher, request } from 'undici';
import type { Clock } from '../../core/index.ts';
import type { RevocationKind, RevocationList } from './revocation-list.ts';

export interface FeedCredentials {
  clientId: string;
  clientSecret: string;
  resource: string;
  scope: string;
}

export interface RevocationFeedOptions {
  /** identity's base URL, e.g. `https://127.0.0.1:7302`. */
  url: string;
  /**
   * The service account, or how to read it at each token request (a file identity writes on its first
   * start may not exist yet when the gateway starts beside it: the poll fails and is retried).
   */
  credentials: FeedCredentials | (() => FeedCredentials);
  list: RevocationList;
  clock: Clock;
  dispatcher?: Dispatcher;
  intervalMs?: number;
  /** Longest one request to identity may take, answer included (default 5 s). */
  timeoutMs?: number;
  onError?: (error: unknown) => void;
}

interface FeedEntry {
  kind: RevocationKind;
  value: string;
  expiresAt: number;
  revokedAt: number;
}

export class RevocationFeed {
  readonly #o: RevocationFeedOptions;
  #since = 0;
  #token: { value: string; until: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<number> | undefined;
  readonly #startedAt: number;
  #lastSuccessAt: number | undefined;

  constructor(options: RevocationFeedOptions) {
    this.#o = options;
    this.#startedAt = options.clock.now();
  }

  /**
   * Seconds since the feed last answered (since it was made, before its first answer): while identity
   * cannot be reached, revocations made meanwhile are not known here, so this is what an alert watches.
   */
  staleSeconds(): number {
    return (this.#o.clock.now() - (this.#lastSuccessAt ?? this.#startedAt)) / 1000;
  }

  /** One poll; resolves with the number of entries applied (0 on failure, reported to `onError`). */
  poll(): Promise<number> {
    this.#polling ??= this.#poll()
      .catch((err: unknown) => {
        this.#o.onError?.(err);
        return 0;
      })
      .finally(() => {
        this.#polling = undefined;
      });
    return this.#polling;
  }

  start(): void {
    if (this.#timer) return;
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#o.intervalMs ?? 2_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #poll(): Promise<number> {
    const token = await this.#accessToken();
    const res = await request(`${this.#o.url}/revocations?since=${this.#since}`, {
      ...(this.#o.dispatcher ? { dispatcher: this.#o.dispatcher } : {}),
      headers: { authorization: `Bearer ${token}` },
      ...this.#timeouts(),
    });
    if (res.statusCode === 401) this.#token = undefined;
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`revocation feed answered ${res.statusCode}`);
    }
    const { revocations } = (await res.body.json()) as { revocations?: FeedEntry[] };
    let applied = 0;
    let malformed = 0;
    for (const r of revocations ?? []) {
      // A time that is not a number would be NaN: revoke() keeps max(old, NaN) = NaN, which lifts a
      // revocation already held, and a NaN `since` makes every later poll ask for `since=NaN`.
      if (
        (r.kind !== 'jti' && r.kind !== 'grant') ||
        typeof r.value !== 'string' ||
        typeof r.expiresAt !== 'number' ||
        Number.isNaN(r.expiresAt) ||
        typeof r.revokedAt !== 'number' ||
        !Number.isFinite(r.revokedAt)
      ) {
        malformed++;
        continue;
      }
      this.#o.list.revoke(r.value, r.expiresAt, r.kind);
      // `since` is inclusive on identity's side: re-reading the last instant is harmless (idempotent).
      this.#since = Math.max(this.#since, r.revokedAt);
      applied++;
    }
    this.#lastSuccessAt = this.#o.clock.now();
    // Skipped, not guessed at, but never silently: an entry we cannot read may be a revocation we miss.
    if (malformed) this.#o.onError?.(new Error(`revocation feed: ${malformed} malformed entries skipped`));
    return applied;
  }

  /**
   * headersTimeout/bodyTimeout bound silences only: an answer trickling in a byte at a time kept the poll in
   * flight forever, every later tick joined it, and nothing was reported while revoked tokens kept passing.
   * The signal bounds the whole exchange, so a stuck feed fails the poll and reaches `onError`.
   */
  #timeouts() {
    const ms = this.#o.timeoutMs ?? 5_000;
    return { headersTimeout: ms, bodyTimeout: ms, signal: AbortSignal.timeout(ms) };
  }

  async #accessToken(): Promise<string> {
    const now = this.#o.clock.now();
    if (this.#token && this.#token.until > now) return this.#token.value;
    const c = this.#o.credentials;
    const { clientId, clientSecret, resource, scope } = typeof c === 'function' ? c() : c;
    const res = await request(`${this.#o.url}/oidc/token`, {
      method: 'POST',
      ...(this.#o.dispatcher ? { dispatcher: this.#o.dispatcher } : {}),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        // RFC 6749 §2.3.1: client_secret_basic, each part form-encoded.
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
      ...this.#timeouts(),
    });
    const body = (await res.body.json()) as { access_token?: string; expires_in?: number; error?: string };
    if (res.statusCode !== 200 || !body.access_token)
      throw new Error(`token request refused: ${body.error ?? res.statusCode}`);
    this.#token = { value: body.access_token, until: now + Math.max(0, (body.expires_in ?? 60) - 30) * 1000 };
    return body.access_token;
  }
}
