/**
 * Accepting an invitation: the invited user chooses a password (checked against the password policy).
 * The token travels as `?token=` (which the log redactor masks) and then in the form body, never in a path.
 */
import type { FastifyInstance } from 'fastify';
import { BulwarkError } from '../../core/index.ts';
import type { IdentityServices } from '../services.ts';
import { field, hidden, page } from './html.ts';
import { sendPage } from './interaction-kit.ts';

const TOKEN = { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } as const;
const INVALID = 'This invitation is unknown, used or expired.';

function form(token: string, error?: string): string {
  return page(
    'Choose your password',
    `<form method="post" action="/invitation">${hidden('token', token)}
${field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', hint: 'At least 15 characters. Long passphrases are best; common passwords are refused.', invalid: Boolean(error) })}
<button type="submit">Save password</button></form>`,
    error ? { error } : {},
  );
}

export function registerInvitationRoutes(app: FastifyInstance, s: IdentityServices): void {
  app.get<{ Querystring: { token: string } }>(
    '/invitation',
    { schema: { querystring: { type: 'object', required: ['token'], properties: { token: TOKEN } } } },
    async (req, reply) => {
      if (!(await s.invitations.peek(req.query.token))) {
        return sendPage(
          reply,
          page('Invitation', '<p>Ask your administrator for a new invitation.</p>', { error: INVALID }),
          400,
        );
      }
      return sendPage(reply, form(req.query.token));
    },
  );

  app.post<{ Body: { token: string; password: string } }>(
    '/invitation',
    {
      schema: {
        body: {
          type: 'object',
          required: ['token', 'password'],
          properties: { token: TOKEN, password: { type: 'string', maxLength: 1024 } },
        },
      },
    },
    async (req, reply) => {
      const { token, password } = req.body;
      const userId = await s.invitations.peek(token);
      if (!userId) return sendPage(reply, page('Invitation', '', { error: INVALID }), 400);
      try {
        await s.users.setPassword(userId, password, false);
      } catch (err) {
        if (err instanceof BulwarkError && err.code === 'identity_password_policy')
          return sendPage(reply, form(token, err.message), 400);
        throw err;
      }
      await s.invitations.consume(token);
      s.audit.record({
        actor: { type: 'user', id: userId },
        action: 'identity.invitation.accept',
        outcome: 'success',
        source: { component: 'identity', ip: req.ip },
      });
      return sendPage(reply, page('Password saved', '<p>You can now sign in from your application.</p>'));
    },
  );
}
