/**
 * The admin API's guard: a Bulwark access token (RFC 6750 bearer) for the identity admin resource, with
 * the `identity:admin` scope, whose subject's current roles grant the permission the route needs. Roles
 * are read at request time, so removing one takes effect at once, not when the token expires. A user
 * whose roles require MFA must present a token from an MFA sign-in (`acr`).
 */
import type { FastifyRequest } from 'fastify';
import { identityError } from '../errors.ts';
import { ACR_MFA } from '../provider/acr.ts';
import type { IdentityServices } from '../services.ts';
import { permits, type SubjectType } from '../users/roles.ts';

export const ADMIN_RESOURCE = 'urn:bulwark:identity';
export const ADMIN_SCOPE = 'identity:admin';

export interface AdminActor {
  type: SubjectType;
  id: string;
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="bulwark-identity"' };

export function requirePermission(s: IdentityServices, permission: string) {
  return async function checkPermission(req: FastifyRequest): Promise<void> {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (!match)
      throw identityError('identity_invalid_token', 'a bearer access token is required', {
        headers: CHALLENGE,
      });
    const claims = await s.verifier().verify(match[1]!, { audience: ADMIN_RESOURCE });
    if (!claims || typeof claims.sub !== 'string') {
      throw identityError('identity_invalid_token', 'the access token is invalid, expired or revoked', {
        headers: { 'www-authenticate': 'Bearer realm="bulwark-identity", error="invalid_token"' },
      });
    }
    if (
      !String(claims.scope ?? '')
        .split(' ')
        .includes(ADMIN_SCOPE)
    ) {
      throw identityError('identity_insufficient_permission', `the token lacks the ${ADMIN_SCOPE} scope`);
    }
    // Client-credentials tokens have the client as subject; user tokens have the user.
    const actor: AdminActor =
      claims.sub === claims.client_id && !claims.gid
        ? { type: 'client', id: claims.sub }
        : { type: 'user', id: claims.sub };
    if (actor.type === 'user' && claims.acr !== ACR_MFA && (await s.roles.mfaRequired(actor.id))) {
      throw identityError(
        'identity_insufficient_permission',
        'this account must sign in with MFA to administer',
      );
    }
    const granted = await s.roles.permissionsOf(actor.type, actor.id);
    if (!permits(granted, permission))
      throw identityError('identity_insufficient_permission', `missing permission ${permission}`);
    (req as FastifyRequest & { actor?: AdminActor }).actor = actor;
  };
}

export function actorOf(req: FastifyRequest): AdminActor {
  const actor = (req as FastifyRequest & { actor?: AdminActor }).actor;
  if (!actor) throw new TypeError('route has no permission check');
  return actor;
}
