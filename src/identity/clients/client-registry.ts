/**
 * OAuth clients, kept as oidc-provider `Client` records in the identity store (through the adapter).
 * Secrets are generated here (256 bits), shown once, and stored only as a SHA-256 digest: high-entropy
 * random secrets need no slow hash, and a database dump then yields no usable secret. oidc-provider's
 * secret comparison is replaced accordingly (see {@link installHashedSecretComparison}).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Provider } from 'oidc-provider';
import type { Store } from '../../core/index.ts';
import { identityError } from '../errors.ts';

const HASH_PREFIX = 'sha256:';

export type ClientKind = 'web' | 'public' | 'service';

export interface ClientInput {
  clientId?: string;
  name: string;
  kind: ClientKind;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  /** For `web` and `service`: a generated secret, or `private_key_jwt` with these public keys. */
  jwks?: { keys: Record<string, unknown>[] };
  /** Space-separated scopes the client may ask for (service accounts: resource scopes). */
  scope?: string;
  introspection?: boolean;
}

export interface ClientSummary {
  clientId: string;
  name: string;
  kind: ClientKind;
  redirectUris: string[];
  grantTypes: string[];
  authMethod: string;
  introspection: boolean;
}

export function hashSecret(secret: string): string {
  return HASH_PREFIX + createHash('sha256').update(secret).digest('hex');
}

/** Makes oidc-provider compare presented secrets against the stored digest, in constant time. */
export function installHashedSecretComparison(provider: Provider): void {
  const proto = provider.Client.prototype as unknown as {
    clientSecret?: string;
    compareClientSecret(actual: string): boolean;
  };
  proto.compareClientSecret = function compareHashed(
    this: { clientSecret?: string },
    actual: string,
  ): boolean {
    const stored = this.clientSecret ?? '';
    if (!stored.startsWith(HASH_PREFIX)) return false;
    return timingSafeEqual(Buffer.from(stored), Buffer.from(hashSecret(actual)));
  };
}

/** The oidc-provider metadata for an input (RFC 7591 names). */
export function clientMetadata(input: ClientInput, clientId: string, secretDigest: string | undefined) {
  const base: Record<string, unknown> = {
    client_id: clientId,
    client_name: input.name,
    introspection_allowed: input.introspection ?? false,
  };
  if (input.scope) base['scope'] = input.scope;
  if (input.kind === 'service') {
    Object.assign(base, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
  } else {
    if (!input.redirectUris?.length)
      throw identityError('identity_client_invalid', 'web and public clients need redirectUris');
    Object.assign(base, {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: input.redirectUris,
      post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
    });
  }
  if (input.kind === 'public') {
    base['token_endpoint_auth_method'] = 'none';
  } else if (input.jwks) {
    Object.assign(base, { token_endpoint_auth_method: 'private_key_jwt', jwks: input.jwks });
  } else {
    Object.assign(base, { token_endpoint_auth_method: 'client_secret_basic', client_secret: secretDigest });
  }
  return base;
}

export class ClientRegistry {
  readonly #store: Store;
  readonly #provider: () => Promise<Provider>;
  readonly #invalidate: (id: string) => void;

  constructor(options: {
    store: Store;
    provider: () => Promise<Provider>;
    invalidate: (id: string) => void;
  }) {
    this.#store = options.store;
    this.#provider = options.provider;
    this.#invalidate = options.invalidate;
  }

  /** Creates a client; returns its id and, when it has one, the secret (shown this once). */
  async create(input: ClientInput): Promise<{ clientId: string; clientSecret?: string }> {
    const clientId = input.clientId ?? `c_${randomBytes(12).toString('base64url')}`;
    if (await this.get(clientId)) throw identityError('identity_client_invalid', `client ${clientId} exists`);
    const needsSecret = input.kind !== 'public' && !input.jwks;
    const secret = needsSecret ? randomBytes(32).toString('base64url') : undefined;
    const metadata = clientMetadata(input, clientId, secret ? hashSecret(secret) : undefined);
    const provider = await this.#provider();
    try {
      // oidc-provider's own metadata validation (redirect URIs, auth methods, JWKS) before anything is stored.
      await (provider.Client as unknown as { validate(m: unknown): Promise<void> }).validate(metadata);
    } catch (err) {
      const e = err as { error_description?: string; message?: string };
      throw identityError(
        'identity_client_invalid',
        e.error_description ?? e.message ?? 'invalid client metadata',
      );
    }
    await this.#store.execute(
      'INSERT INTO oidc_models (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) VALUES (?, ?, ?, NULL, NULL, NULL, NULL, NULL)',
      ['Client', clientId, JSON.stringify(metadata)],
    );
    return secret ? { clientId, clientSecret: secret } : { clientId };
  }

  async get(clientId: string): Promise<ClientSummary | undefined> {
    const [row] = await this.#store.query<{ payload: string }>(
      "SELECT payload FROM oidc_models WHERE model = 'Client' AND id = ?",
      [clientId],
    );
    return row ? summary(JSON.parse(row.payload)) : undefined;
  }

  async list(): Promise<ClientSummary[]> {
    const rows = await this.#store.query<{ payload: string }>(
      "SELECT payload FROM oidc_models WHERE model = 'Client' ORDER BY id",
    );
    return rows.map((r) => summary(JSON.parse(r.payload)));
  }

  /** Issues a new secret (the old one stops working at once). */
  async rotateSecret(clientId: string): Promise<string> {
    const [row] = await this.#store.query<{ payload: string }>(
      "SELECT payload FROM oidc_models WHERE model = 'Client' AND id = ?",
      [clientId],
    );
    if (!row) throw identityError('identity_client_not_found', `no client ${clientId}`);
    const metadata = JSON.parse(row.payload) as Record<string, unknown>;
    if (!metadata['client_secret'])
      throw identityError('identity_client_invalid', 'this client does not use a secret');
    const secret = randomBytes(32).toString('base64url');
    metadata['client_secret'] = hashSecret(secret);
    await this.#store.execute("UPDATE oidc_models SET payload = ? WHERE model = 'Client' AND id = ?", [
      JSON.stringify(metadata),
      clientId,
    ]);
    this.#invalidate(clientId);
    return secret;
  }

  async delete(clientId: string): Promise<void> {
    const n = await this.#store.execute("DELETE FROM oidc_models WHERE model = 'Client' AND id = ?", [
      clientId,
    ]);
    if (n === 0) throw identityError('identity_client_not_found', `no client ${clientId}`);
    this.#invalidate(clientId);
  }

  /** Whether the client may introspect (cached by the adapter's client cache on the provider side). */
  async introspectionAllowed(clientId: string): Promise<boolean> {
    return (await this.get(clientId))?.introspection ?? false;
  }
}

function summary(m: Record<string, unknown>): ClientSummary {
  const grantTypes = (m['grant_types'] as string[] | undefined) ?? ['authorization_code'];
  const authMethod = String(m['token_endpoint_auth_method'] ?? 'client_secret_basic');
  return {
    clientId: String(m['client_id']),
    name: String(m['client_name'] ?? ''),
    kind: grantTypes.includes('client_credentials') ? 'service' : authMethod === 'none' ? 'public' : 'web',
    redirectUris: (m['redirect_uris'] as string[] | undefined) ?? [],
    grantTypes,
    authMethod,
    introspection: m['introspection_allowed'] === true,
  };
}
