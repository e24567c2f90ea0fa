/**
 * What oidc-provider leaves to Bulwark around its endpoints:
 * - RFC 7009 revocation and RFC 7662 introspection of JWT access tokens (oidc-provider answers
 *   `unsupported_token_type` for them): after its client authentication has run, the token is checked
 *   locally and its `jti` recorded in Bulwark's revocation list, or its claims returned.
 * - Clickjacking headers on every provider response.
 * - Audit events for token issue, refresh, failure, grant revocation and logout.
 */
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { AuditSink } from '../../core/index.ts';
import type { AccessTokenVerifier } from '../tokens/access-token-verifier.ts';
import type { RevocationList } from '../tokens/revocation-list.ts';
import { introspectionAllowed } from './configuration.ts';

type Next = () => Promise<void>;

export interface TokenMiddlewareDeps {
  verifier: () => AccessTokenVerifier;
  revocations: RevocationList;
  audit: AuditSink;
}

export function tokenMiddleware(deps: TokenMiddlewareDeps) {
  return async function bulwarkTokenEndpoints(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    // RFC 7034 and CSP frame-ancestors: no provider page may be framed.
    ctx.set('x-frame-options', 'DENY');
    ctx.set('x-content-type-options', 'nosniff');
    if (!ctx.response.get('content-security-policy'))
      ctx.set('content-security-policy', "frame-ancestors 'none'");
    await next();
    const route = ctx.oidc?.route;
    const body = ctx.body as { error?: string } | undefined;
    if ((route !== 'revocation' && route !== 'introspection') || body?.error !== 'unsupported_token_type')
      return;
    const client = ctx.oidc.client;
    const token = ctx.oidc.params?.['token'];
    if (!client || typeof token !== 'string') return;
    if (route === 'revocation') await revokeJwt(ctx, deps, client.clientId, token);
    else await introspectJwt(ctx, deps, client, token);
  };
}

async function revokeJwt(
  ctx: KoaContextWithOIDC,
  deps: TokenMiddlewareDeps,
  clientId: string,
  token: string,
) {
  const claims = await deps.verifier().verifySignature(token);
  // RFC 7009 §2.1: a client may only revoke its own tokens; §2.2: invalid tokens still get 200.
  if (claims?.jti && claims.client_id === clientId && typeof claims.exp === 'number') {
    await deps.revocations.revokeJti(claims.jti, claims.exp * 1000, 'revoked by client');
    deps.audit.record({
      actor: { type: 'client', id: clientId },
      action: 'identity.token.revoke',
      target: { type: 'access_token', id: claims.jti },
      outcome: 'success',
      source: { component: 'identity', ip: ctx.ip },
    });
  }
  ctx.status = 200;
  ctx.body = '';
}

async function introspectJwt(
  ctx: KoaContextWithOIDC,
  deps: TokenMiddlewareDeps,
  client: { metadata(): Record<string, unknown> },
  token: string,
) {
  ctx.status = 200;
  ctx.set('cache-control', 'no-store');
  // RFC 7662 §2.1 and §4: only authorised clients learn anything about a token.
  if (!introspectionAllowed(client)) {
    ctx.body = { active: false };
    return;
  }
  const claims = await deps.verifier().verify(token);
  ctx.body = claims ? { ...claims, active: true, token_type: 'Bearer' } : { active: false };
}

/** Audit events from oidc-provider's event emitter. */
export function auditProviderEvents(provider: Provider, audit: AuditSink): void {
  const source = (ctx: KoaContextWithOIDC) => ({ component: 'identity', ip: ctx.ip });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = String(ctx.oidc.params?.['grant_type'] ?? '');
    const at = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials;
    audit.record({
      actor: ctx.oidc.account
        ? { type: 'user', id: ctx.oidc.account.accountId }
        : { type: 'client', id: ctx.oidc.client?.clientId ?? 'unknown' },
      action: grantType === 'refresh_token' ? 'identity.token.refresh' : 'identity.token.issue',
      target: { type: 'access_token', id: at?.jti ?? 'unknown' },
      outcome: 'success',
      source: source(ctx),
      details: { grantType, clientId: ctx.oidc.client?.clientId },
    });
  });
  provider.on(
    'grant.error',
    (ctx: KoaContextWithOIDC, error: Error & { error?: string; error_description?: string }) => {
      audit.record({
        actor: { type: 'client', id: ctx.oidc?.client?.clientId ?? 'unknown' },
        action: 'identity.token.issue',
        outcome: 'failure',
        reason: `${error.error ?? 'error'}: ${error.error_description ?? ''}`.slice(0, 200),
        source: source(ctx),
        details: { grantType: String(ctx.oidc?.params?.['grant_type'] ?? '') },
      });
    },
  );
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    audit.record({
      actor: { type: 'client', id: ctx.oidc?.client?.clientId ?? 'system' },
      action: 'identity.grant.revoke',
      target: { type: 'grant', id: grantId },
      outcome: 'success',
      source: source(ctx),
    });
  });
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    audit.record({
      actor: { type: 'user', id: ctx.oidc?.session?.accountId ?? 'unknown' },
      action: 'identity.logout',
      outcome: 'success',
      source: source(ctx),
    });
  });
}
