/** The browser-facing routes (sign-in, MFA, consent, invitations) and their static assets, in one scope. */
import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { asBulwarkError, toProblem } from '../../core/index.ts';
import type { IdentityServices } from '../services.ts';
import { STYLESHEET } from './html.ts';
import { sendProblemPage } from './interaction-kit.ts';
import { registerInvitationRoutes } from './invitation-routes.ts';
import { registerLoginRoutes } from './login-routes.ts';
import { registerMfaRoutes } from './mfa-routes.ts';
import { PASSKEY_SCRIPT, registerPasskeyRoutes } from './passkey-routes.ts';

export function pagesPlugin(s: IdentityServices) {
  return async function pages(app: FastifyInstance): Promise<void> {
    await app.register(formbody, { bodyLimit: 16_384 });
    // Pages answer errors with a page; the passkey JSON endpoints keep problem+json.
    app.setErrorHandler(async (err, req, reply) => {
      const error = asBulwarkError(err);
      if (error.status >= 500) req.log.error({ err: err as Error, code: error.code }, 'request failed');
      if (error.headers) reply.headers(error.headers);
      if (req.url.includes('/passkey/')) {
        return reply
          .code(error.status)
          .type('application/problem+json')
          .header('cache-control', 'no-store')
          .send(toProblem(error, req.url.split('?')[0], req.id));
      }
      return sendProblemPage(reply, error.status, error.expose ? error.message : 'Something went wrong.');
    });
    app.get('/assets/bulwark.css', async (_req, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
    );
    app.get('/assets/passkey.js', async (_req, reply) =>
      reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=3600')
        .send(PASSKEY_SCRIPT),
    );
    registerLoginRoutes(app, s);
    registerMfaRoutes(app, s);
    registerPasskeyRoutes(app, s);
    registerInvitationRoutes(app, s);
  };
}
