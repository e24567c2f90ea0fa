/**
 * A small client for the `keys` transit API, for Node services. It speaks HTTPS with undici and turns
 * problem+json answers into {@link KeysApiError}s carrying the stable `code`.
 *
 * The caller header is what the mTLS layer will set from the service's certificate; until then a service
 * sends its own identity, which `keys` must only trust behind mTLS.
 */
import { Agent, type Dispatcher, request } from 'undici';

export type Context = Readonly<Record<string, string>>;

export interface KeysClientOptions {
  /** Base URL of `keys`, e.g. `https://127.0.0.1:7303`. */
  url: string;
  /** This service's identity (SPIFFE ID). */
  caller: string;
  /** PEM of the CA that signed the `keys` certificate. */
  ca?: string | Buffer;
  /** Inject a dispatcher (tests, connection pools, mTLS client certificates). */
  dispatcher?: Dispatcher;
  callerHeader?: string;
}

export class KeysApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = 'KeysApiError';
    this.code = code;
    this.status = status;
  }
}

type Item = Record<string, unknown>;

/**
 * @example
 * const keys = new KeysClient({ url, caller: 'spiffe://bulwark.local/ns/orders', ca });
 * const [ct] = await keys.encrypt('orders-pii', [{ plaintext: Buffer.from('123-45-6789'), context: { tenant: 't1' } }]);
 */
export class KeysClient {
  readonly #url: string;
  readonly #caller: string;
  readonly #header: string;
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;

  constructor(options: KeysClientOptions) {
    this.#url = options.url.replace(/\/$/, '');
    this.#caller = options.caller;
    this.#header = options.callerHeader ?? 'x-bulwark-caller';
    this.#owned = !options.dispatcher;
    this.#dispatcher = options.dispatcher ?? new Agent({ connect: options.ca ? { ca: options.ca } : {} });
  }

  /** The identity this client sends in the caller header (e.g. to name itself in a key's `acl`). */
  get caller(): string {
    return this.#caller;
  }

  /** Sends one request; resolves to the parsed JSON body or throws a {@link KeysApiError}. */
  async call<T = Item>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    const res = await request(`${this.#url}${path}`, {
      dispatcher: this.#dispatcher,
      method,
      headers: {
        [this.#header]: this.#caller,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    const json = text ? (JSON.parse(text) as Item) : {};
    if (res.statusCode >= 400) {
      throw new KeysApiError(
        String(json['code'] ?? 'internal'),
        res.statusCode,
        String(json['detail'] ?? 'request failed'),
      );
    }
    return json as T;
  }

  async #batch(key: string, operation: string, items: Item[]): Promise<Item[]> {
    const out = await this.call<{ batch_results: Item[] }>(
      'POST',
      `/v1/keys/${encodeURIComponent(key)}/${operation}`,
      {
        batch: items,
      },
    );
    return out.batch_results.map((r) => {
      const error = r['error'] as { code: string; status: number; detail: string } | undefined;
      if (error) throw new KeysApiError(error.code, error.status, error.detail);
      return r;
    });
  }

  async encrypt(
    key: string,
    items: readonly { plaintext: Uint8Array; context?: Context }[],
  ): Promise<string[]> {
    const rows = await this.#batch(
      key,
      'encrypt',
      items.map((i) => ({
        plaintext: Buffer.from(i.plaintext).toString('base64'),
        ...(i.context ? { context: i.context } : {}),
      })),
    );
    return rows.map((r) => String(r['ciphertext']));
  }

  async decrypt(key: string, items: readonly { ciphertext: string; context?: Context }[]): Promise<Buffer[]> {
    const rows = await this.#batch(
      key,
      'decrypt',
      items.map((i) => ({ ...i })),
    );
    return rows.map((r) => Buffer.from(String(r['plaintext']), 'base64'));
  }

  /** A new data key: plaintext (use locally, then forget) and wrapped (store beside the data). */
  async datakey(key: string, context?: Context): Promise<{ plaintext: Buffer; ciphertext: string }> {
    const [row] = await this.#batch(key, 'datakey/plaintext', [context ? { context } : {}]);
    return {
      plaintext: Buffer.from(String(row!['plaintext']), 'base64'),
      ciphertext: String(row!['ciphertext']),
    };
  }

  /** Unwraps a data key from {@link datakey} (needs `decrypt` on the key). */
  async unwrapDatakey(key: string, ciphertext: string, context?: Context): Promise<Buffer> {
    const [plaintext] = await this.decrypt(key, [
      { ciphertext, context: { ...context, purpose: 'datakey' } },
    ]);
    return plaintext!;
  }

  async tokenize(
    key: string,
    items: readonly { value: string; format?: 'random' | 'card' | 'digits'; keepLast?: number }[],
  ) {
    const rows = await this.#batch(
      key,
      'tokenize',
      items.map((i) => ({
        value: i.value,
        format: i.format ?? 'random',
        ...(i.keepLast === undefined ? {} : { keep_last: i.keepLast }),
      })),
    );
    return rows.map((r) => String(r['token']));
  }

  async detokenize(key: string, tokens: readonly string[]): Promise<string[]> {
    const rows = await this.#batch(
      key,
      'detokenize',
      tokens.map((token) => ({ token })),
    );
    return rows.map((r) => String(r['value']));
  }

  /**
   * Encrypts values under one data subject's key (crypto-shredding; needs `subjects.encrypt`). The subject
   * id travels in the body, never in the URL.
   */
  async subjectEncrypt(
    subject: string,
    items: readonly { plaintext: Uint8Array; context?: Context }[],
  ): Promise<string[]> {
    const out = await this.call<{ batch_results: Item[] }>('POST', '/v1/subjects/encrypt', {
      subject,
      batch: items.map((i) => ({
        plaintext: Buffer.from(i.plaintext).toString('base64'),
        ...(i.context ? { context: i.context } : {}),
      })),
    });
    return out.batch_results.map((r) => String(r['ciphertext']));
  }

  /**
   * Decrypts values of one subject; each item resolves to its plaintext or its own error (a batch may mix
   * good and tampered values). An erased subject rejects the whole call with `keys_subject_erased` (410).
   */
  async subjectDecrypt(
    subject: string,
    items: readonly { ciphertext: string; context?: Context }[],
  ): Promise<(Buffer | KeysApiError)[]> {
    const out = await this.call<{ batch_results: Item[] }>('POST', '/v1/subjects/decrypt', {
      subject,
      batch: items.map((i) => ({ ciphertext: i.ciphertext, ...(i.context ? { context: i.context } : {}) })),
    });
    return out.batch_results.map((r) => {
      const error = r['error'] as { code: string; status: number; detail: string } | undefined;
      return error
        ? new KeysApiError(error.code, error.status, error.detail)
        : Buffer.from(String(r['plaintext']), 'base64');
    });
  }

  /** Erases a subject's key for good (needs `subjects.erase`): its data becomes unreadable everywhere. */
  async eraseSubject(subject: string): Promise<{ subjectRef: string; alreadyErased: boolean }> {
    const out = await this.call<{ subject_ref: string; already_erased: boolean }>(
      'POST',
      '/v1/subjects/erase',
      { subject },
    );
    return { subjectRef: out.subject_ref, alreadyErased: out.already_erased };
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#dispatcher.close();
  }
}
