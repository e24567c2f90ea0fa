/**
 * oidc-provider's configuration for Bulwark: secure by default where most deployments are not.
 * - Only the authorization code flow (`response_types: code`), PKCE with S256 required of every client
 *   (RFC 9700 §2.1.1; oidc-provider accepts no `plain`), exact redirect URI matching (RFC 9700 §4.1.3).
 *   No implicit grant and no password grant: they are simply not enabled.
 * - Access tokens are RFC 9068 JWTs (`typ: at+jwt`) for a resource indicator (RFC 8707), signed with the
 *   current key, carrying `roles`, `gid` (grant digest, for revocation), `acr`/`amr`.
 * - Refresh tokens rotate on every use (RFC 9700 §4.14.2); reuse revokes the grant (see adapter.ts).
 * - Client auth: `client_secret_basic`/`_post` against hashed secrets, `private_key_jwt`, or `none` (public
 *   clients, PKCE). `client_secret_jwt` needs the clear secret, so it is not offered.
 */
import type { Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider';
import { logoutSource, postLogoutSuccessSource, renderError } from '../pages/provider-pages.ts';
import { grantDigest } from '../tokens/revocation-list.ts';
import { ACR_VALUES, interactionPolicyWithStepUp } from './acr.ts';

export const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'roles'];

export interface ResourceServer {
  scopes: string[];
  accessTokenTtlSeconds?: number;
}

export interface ProviderSettings {
  jwks: JWK[];
  currentKid: string;
  cookieKeys: string[];
  /** Secure cookies; false only when the listener is plain HTTP (development mode). */
  secureCookies: boolean;
  /** oidc-provider's adapter class. */
  adapter: NonNullable<Configuration['adapter']>;
  findAccount: NonNullable<Configuration['findAccount']>;
  resources: Record<string, ResourceServer>;
  defaultResource: string;
  ttl: {
    accessToken: number;
    idToken: number;
    refreshToken: number;
    session: number;
    grant: number;
    code: number;
  };
  /** Roles in access tokens: of the user (`accountId`) or of the service account (`clientId`). */
  rolesOf(subject: { accountId?: string; clientId: string }): Promise<string[]>;
}

export const EXTRA_CLIENT_METADATA = ['introspection_allowed', 'client_name_display'];

export function providerConfiguration(s: ProviderSettings): Configuration {
  const jwtFor = (indicator: string) => {
    const rs = s.resources[indicator];
    if (!rs) return undefined;
    return {
      scope: rs.scopes.join(' '),
      audience: indicator,
      accessTokenTTL: rs.accessTokenTtlSeconds ?? s.ttl.accessToken,
      accessTokenFormat: 'jwt' as const,
      jwt: { sign: { alg: 'ES256' as const, kid: s.currentKid } },
    };
  };
  return {
    adapter: s.adapter,
    findAccount: s.findAccount,
    jwks: { keys: s.jwks as never[] },
    cookies: {
      keys: s.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure: s.secureCookies },
      short: { httpOnly: true, sameSite: 'lax', secure: s.secureCookies },
    },
    // Client `scope` metadata may only name scopes the server knows: OIDC ones and every resource's.
    scopes: [...new Set([...SCOPES, ...Object.values(s.resources).flatMap((r) => r.scopes)])],
    claims: {
      // acr/amr/auth_time in every ID token: relying parties decide on them (OIDC Core §2).
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
      roles: ['roles'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
    },
    acrValues: ACR_VALUES,
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      userinfoSigningAlgValues: ['ES256'],
      clientAuthSigningAlgValues: ['ES256', 'EdDSA', 'PS256', 'RS256'],
      requestObjectSigningAlgValues: ['ES256', 'EdDSA', 'PS256'],
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    extraClientMetadata: { properties: EXTRA_CLIENT_METADATA },
    allowOmittingSingleRegisteredRedirectUri: false,
    conformIdTokenClaims: true,
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    ttl: {
      AccessToken: s.ttl.accessToken,
      ClientCredentials: s.ttl.accessToken,
      AuthorizationCode: s.ttl.code,
      IdToken: s.ttl.idToken,
      RefreshToken: s.ttl.refreshToken,
      Session: s.ttl.session,
      Grant: s.ttl.grant,
      Interaction: 600,
    },
    interactions: {
      policy: interactionPolicyWithStepUp(),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 7662 §2.1: the endpoint must be protected; only clients flagged by an admin may call it.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client) => introspectionAllowed(client),
      },
      // RFC 7009 §2.1: a client revokes only tokens issued to it (others are silently ignored).
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? s.defaultResource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          const info = jwtFor(indicator);
          if (!info)
            throw new (await import('oidc-provider')).errors.InvalidTarget(`unknown resource ${indicator}`);
          return info;
        },
      },
    },
    extraTokenClaims: async (ctx, token) => {
      const t = token as unknown as {
        kind: string;
        accountId?: string;
        clientId: string;
        grantId?: string;
        acr?: string;
        amr?: string[];
        authTime?: number;
      };
      const claims: Record<string, unknown> = {
        roles: await s.rolesOf(
          t.accountId ? { accountId: t.accountId, clientId: t.clientId } : { clientId: t.clientId },
        ),
      };
      if (t.grantId) claims['gid'] = grantDigest(t.grantId);
      // RFC 9068 §2.2.1: acr, amr and auth_time of the authentication behind the grant.
      const source = (ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken) as
        | typeof t
        | undefined;
      const acr = t.acr ?? source?.acr;
      const amr = t.amr ?? source?.amr;
      const authTime = t.authTime ?? source?.authTime;
      if (acr) claims['acr'] = acr;
      if (amr) claims['amr'] = amr;
      if (authTime) claims['auth_time'] = authTime;
      return claims;
    },
    renderError,
  } as Configuration;
}

export type OidcContext = KoaContextWithOIDC;

/** Whether a client may call the introspection endpoint (client metadata `introspection_allowed`). */
export function introspectionAllowed(client: { metadata(): Record<string, unknown> }): boolean {
  return client.metadata()['introspection_allowed'] === true;
}
