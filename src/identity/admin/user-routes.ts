/** Admin API: users, their roles, invitations, lockouts and MFA resets. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IdentityServices } from '../services.ts';
import { PERMISSIONS } from '../users/roles.ts';
import type { UserStatus } from '../users/user-store.ts';
import { actorOf, requirePermission } from './admin-auth.ts';
import { assertMayGrantRoles, assertMayTakeOver } from './grant-guard.ts';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } };
const roleList = {
  type: 'array',
  items: { type: 'string', pattern: '^[a-z][a-z0-9_.:-]{0,63}$' },
  maxItems: 50,
};

export function auditAdmin(
  s: IdentityServices,
  req: FastifyRequest,
  action: string,
  target: { type: string; id: string },
  details?: Record<string, unknown>,
) {
  s.audit.record({
    actor: actorOf(req),
    action: `identity.admin.${action}`,
    target,
    outcome: 'success',
    source: { component: 'identity', ip: req.ip },
    ...(details ? { details } : {}),
  });
}

export function registerUserRoutes(app: FastifyInstance, s: IdentityServices): void {
  const read = { preHandler: requirePermission(s, PERMISSIONS.usersRead) };
  const write = requirePermission(s, PERMISSIONS.usersWrite);
  const withRoles = async (id: string) => ({
    ...(await s.users.require(id)),
    roles: (await s.roles.rolesOf('user', id)).map((r) => r.name),
  });

  app.get('/admin/users', read, async () => ({ users: await s.users.list() }));
  app.get<{ Params: { id: string } }>(
    '/admin/users/:id',
    { ...read, schema: { params: idParams } },
    async (req) => withRoles(req.params.id),
  );

  app.post<{ Body: { username: string; email?: string; password?: string; roles?: string[] } }>(
    '/admin/users',
    {
      preHandler: write,
      schema: {
        body: {
          type: 'object',
          required: ['username'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', pattern: '^[A-Za-z0-9._-]{3,64}$' },
            email: { type: 'string', format: 'email', maxLength: 254 },
            password: { type: 'string', maxLength: 1024 },
            roles: roleList,
          },
        },
      },
    },
    async (req, reply) => {
      const { roles = [], ...input } = req.body;
      // Before anything is created: a refused grant leaves no half-made account behind.
      await assertMayGrantRoles(s, req, roles, { type: 'user' });
      const user = await s.users.create(input);
      if (roles.length) await s.roles.assign('user', user.id, roles);
      let invitation: { url: string; expiresAt: string } | undefined;
      if (user.status === 'invited') {
        const inv = await s.invitations.create(user.id);
        invitation = {
          url: `${new URL(s.host.issuer).origin}/invitation?token=${inv.token}`,
          expiresAt: inv.expiresAt,
        };
      }
      auditAdmin(
        s,
        req,
        'user.create',
        { type: 'user', id: user.id },
        { roles, invited: Boolean(invitation) },
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...(await withRoles(user.id)), ...(invitation ? { invitation } : {}) });
    },
  );

  app.patch<{ Params: { id: string }; Body: { status?: UserStatus; roles?: string[] } }>(
    '/admin/users/:id',
    {
      preHandler: write,
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { status: { type: 'string', enum: ['active', 'disabled'] }, roles: roleList },
        },
      },
    },
    async (req) => {
      const { id } = req.params;
      await s.users.require(id);
      // Disabling (or re-enabling) an account, or taking roles from it, is for someone who holds what it holds.
      await assertMayTakeOver(s, req, { type: 'user', id });
      if (req.body.roles) {
        const current = (await s.roles.rolesOf('user', id)).map((r) => r.name);
        await assertMayGrantRoles(s, req, req.body.roles, { type: 'user', current });
      }
      if (req.body.status) await s.users.setStatus(id, req.body.status);
      if (req.body.roles) await s.roles.assign('user', id, req.body.roles);
      auditAdmin(s, req, 'user.update', { type: 'user', id }, { ...req.body });
      return withRoles(id);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/admin/users/:id',
    { preHandler: write, schema: { params: idParams } },
    async (req, reply) => {
      await assertMayTakeOver(s, req, { type: 'user', id: req.params.id });
      await s.users.delete(req.params.id);
      auditAdmin(s, req, 'user.delete', { type: 'user', id: req.params.id });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/admin/users/:id/invitation',
    { preHandler: write, schema: { params: idParams } },
    async (req, reply) => {
      await s.users.require(req.params.id);
      // The link sets the account's password: only for a caller who holds everything the account holds.
      await assertMayTakeOver(s, req, { type: 'user', id: req.params.id });
      const inv = await s.invitations.create(req.params.id);
      auditAdmin(s, req, 'user.invite', { type: 'user', id: req.params.id });
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({
          url: `${new URL(s.host.issuer).origin}/invitation?token=${inv.token}`,
          expiresAt: inv.expiresAt,
        });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/admin/users/:id/unlock',
    { preHandler: write, schema: { params: idParams } },
    async (req, reply) => {
      await s.users.require(req.params.id);
      // A lockout may be what stops an attack on a more privileged account.
      await assertMayTakeOver(s, req, { type: 'user', id: req.params.id });
      await s.throttle.unlock(req.params.id);
      auditAdmin(s, req, 'user.unlock', { type: 'user', id: req.params.id });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/admin/users/:id/mfa',
    { preHandler: write, schema: { params: idParams } },
    async (req, reply) => {
      await s.users.require(req.params.id);
      await assertMayTakeOver(s, req, { type: 'user', id: req.params.id });
      await s.totp.remove(req.params.id);
      await s.store.execute('DELETE FROM recovery_codes WHERE user_id = ?', [req.params.id]);
      await s.store.execute('DELETE FROM passkeys WHERE user_id = ?', [req.params.id]);
      auditAdmin(s, req, 'user.mfa_reset', { type: 'user', id: req.params.id });
      return reply.code(204).send();
    },
  );
}
