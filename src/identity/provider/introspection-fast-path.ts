/**
 * RFC 7662 introspection of Bulwark JWT access tokens by resource servers authenticating with
 * `client_secret_basic`, answered without the Koa/oidc-provider stack: this is the call gateways make for
 * every request they cannot verify themselves, so it has to cost little more than a hash and a lookup.
 * It applies the same rules as the slow path (token-middleware.ts): the caller must authenticate
 * (RFC 7662 §2.1) and be flagged `introspection_allowed`; the token must verify and not be revoked.
 * Anything else (other client authentication methods, refresh tokens) is handed to oidc-provider.
 */
import { timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { hashSecret } from '../clients/client-registry.ts';
import type { IdentityServices } from '../services.ts';
import { handOver, OIDC_PREFIX } from './mount.ts';

export const INTROSPECTION_PATH = `${OIDC_PREFIX}/token/introspection`;

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded, then joined by ':' and base64-encoded. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    const form = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

export function introspectionFastPath(
  s: IdentityServices,
  findClient: (id: string) => Promise<Record<string, unknown> | undefined>,
) {
  const options = { tls: s.tls, listenHost: s.listenHost };
  return async function introspection(app: FastifyInstance): Promise<void> {
    await app.register(formbody, { bodyLimit: 16_384 });
    app.post(
      INTROSPECTION_PATH,
      {
        onRequest: async (req, reply) => {
          if (!basicCredentials(req.headers.authorization))
            await handOver(s.host, app, options, { raw: req.raw }, reply);
        },
      },
      async (req, reply) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const token = body['token'];
        const creds = basicCredentials(req.headers.authorization)!;
        const mixed = 'client_id' in body || 'client_secret' in body || 'client_assertion' in body;
        if (typeof token !== 'string' || !JWT.test(token) || mixed) {
          return handOver(s.host, app, options, { raw: req.raw, body }, reply);
        }
        const client = await findClient(creds.id);
        const stored = String(client?.['client_secret'] ?? '');
        const presented = hashSecret(creds.secret);
        const authenticated =
          client?.['token_endpoint_auth_method'] === 'client_secret_basic' &&
          stored.length === presented.length &&
          timingSafeEqual(Buffer.from(stored), Buffer.from(presented));
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        if (!authenticated) {
          return reply
            .code(401)
            .header('www-authenticate', 'Basic realm="bulwark"')
            .send({ error: 'invalid_client', error_description: 'client authentication failed' });
        }
        if (client['introspection_allowed'] !== true) return { active: false };
        const claims = await s.verifier().verify(token);
        return claims ? { ...claims, active: true, token_type: 'Bearer' } : { active: false };
      },
    );
  };
}
