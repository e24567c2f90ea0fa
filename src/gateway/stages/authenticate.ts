/**
 * Stage 6: who is calling. Trusts nothing in the credential until verified: a Bearer JWT (RFC 6750 §2.1)
 * goes through {@link JwtAuthenticator}; an API key (`x-api-key`, where the route allows keys) is hashed
 * with SHA-256 and looked up among consumers (only hashes are stored). A token must carry the route's
 * audience when the route names one, so a token minted for service A is refused at service B.
 */
import { createHash } from 'node:crypto';
import { AuthenticationFailed } from '../auth/jwt-authenticator.ts';
import type { RequestContext } from '../context.ts';
import { gatewayError } from '../errors.ts';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

export async function authenticate(ctx: RequestContext): Promise<void> {
  const auth = ctx.route?.spec.auth;
  const headers = ctx.request.headers;
  const authorization = headers['authorization'];
  const apiKey = auth?.apiKeys ? headers['x-api-key'] : undefined;
  if (authorization === undefined && apiKey === undefined) {
    if (auth?.required === false) return;
    throw refused('missing');
  }
  if (apiKey !== undefined && authorization === undefined) {
    const consumer = ctx.runtime.table.consumersByHash.get(createHash('sha256').update(apiKey).digest('hex'));
    if (!consumer) throw refused('unknown_api_key');
    ctx.principal = {
      kind: 'api-key',
      subject: consumer.subject ?? consumer.name,
      roles: consumer.roles ?? [],
      tenant: consumer.tenant ?? 'default',
      amr: [],
      consumer: consumer.name,
    };
    return;
  }
  const match = BEARER.exec(authorization ?? '');
  if (!match) throw refused('malformed');
  try {
    const { principal, audiences } = await ctx.runtime.authenticator.authenticate(match[1] as string);
    if (auth?.audience !== undefined && !audiences.includes(auth.audience)) throw refused('wrong_audience');
    ctx.principal = principal;
  } catch (err) {
    if (err instanceof AuthenticationFailed) throw refused(err.reason);
    throw err;
  }
}

function refused(reason: string) {
  // RFC 6750 §3: the challenge says the token is invalid without saying why (the reason is in metrics/audit).
  return gatewayError('gateway_unauthenticated', 'a valid access token or API key is required', {
    headers: { 'www-authenticate': reason === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"' },
    details: { reason },
    expose: true,
  });
}
