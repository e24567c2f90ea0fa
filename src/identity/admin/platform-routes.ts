/** Admin API: roles, clients (service accounts included), sessions, signing keys, and the revocation feed. */
import type { FastifyInstance } from 'fastify';
import type { ClientInput } from '../clients/client-registry.ts';
import type { RotationPhase } from '../keys/signing-keys.ts';
import type { IdentityServices } from '../services.ts';
import { PERMISSIONS } from '../users/roles.ts';
import { requirePermission } from './admin-auth.ts';
import {
  assertMayGrantRoles,
  assertMayRemoveRole,
  assertMayTakeOver,
  assertMayWriteRole,
} from './grant-guard.ts';
import { auditAdmin } from './user-routes.ts';

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_.:-]{0,63}$' } },
};
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128 } } };
const uriList = { type: 'array', items: { type: 'string', maxLength: 2048 }, maxItems: 20 };

export function registerPlatformRoutes(app: FastifyInstance, s: IdentityServices): void {
  const rolesWrite = requirePermission(s, PERMISSIONS.rolesWrite);
  app.get('/admin/roles', { preHandler: requirePermission(s, PERMISSIONS.usersRead) }, async () => ({
    roles: await s.roles.list(),
  }));
  app.put<{
    Params: { name: string };
    Body: { description?: string; permissions: string[]; mfaRequired?: boolean };
  }>(
    '/admin/roles/:name',
    {
      preHandler: rolesWrite,
      schema: {
        params: nameParams,
        body: {
          type: 'object',
          required: ['permissions'],
          additionalProperties: false,
          properties: {
            description: { type: 'string', maxLength: 200 },
            permissions: {
              type: 'array',
              items: { type: 'string', pattern: '^[a-z0-9_.:*-]{1,128}$' },
              maxItems: 100,
            },
            mfaRequired: { type: 'boolean' },
          },
        },
      },
    },
    async (req) => {
      const next = {
        name: req.params.name,
        description: req.body.description ?? '',
        permissions: req.body.permissions,
        mfaRequired: req.body.mfaRequired ?? false,
      };
      await assertMayWriteRole(s, req, next);
      const role = await s.roles.upsert(next);
      auditAdmin(
        s,
        req,
        'role.upsert',
        { type: 'role', id: role.name },
        { permissions: role.permissions, mfaRequired: role.mfaRequired },
      );
      return role;
    },
  );
  app.delete<{ Params: { name: string } }>(
    '/admin/roles/:name',
    { preHandler: rolesWrite, schema: { params: nameParams } },
    async (req, reply) => {
      const role = await s.roles.get(req.params.name);
      if (role) await assertMayRemoveRole(s, req, role);
      await s.roles.delete(req.params.name);
      auditAdmin(s, req, 'role.delete', { type: 'role', id: req.params.name });
      return reply.code(204).send();
    },
  );

  const clientsWrite = requirePermission(s, PERMISSIONS.clientsWrite);
  app.get('/admin/clients', { preHandler: requirePermission(s, PERMISSIONS.clientsRead) }, async () => ({
    clients: await s.clients.list(),
  }));
  app.post<{ Body: ClientInput & { roles?: string[] } }>(
    '/admin/clients',
    {
      preHandler: clientsWrite,
      schema: {
        body: {
          type: 'object',
          required: ['name', 'kind'],
          additionalProperties: false,
          properties: {
            clientId: { type: 'string', pattern: '^[A-Za-z0-9._-]{3,64}$' },
            name: { type: 'string', minLength: 1, maxLength: 100 },
            kind: { type: 'string', enum: ['web', 'public', 'service'] },
            redirectUris: uriList,
            postLogoutRedirectUris: uriList,
            jwks: {
              type: 'object',
              required: ['keys'],
              properties: { keys: { type: 'array', maxItems: 10, items: { type: 'object' } } },
            },
            scope: { type: 'string', maxLength: 1000 },
            introspection: { type: 'boolean' },
            roles: { type: 'array', items: { type: 'string' }, maxItems: 50 },
          },
        },
      },
    },
    async (req, reply) => {
      const { roles = [], ...input } = req.body;
      await assertMayGrantRoles(s, req, roles, { type: 'client' });
      const created = await s.clients.create(input);
      if (roles.length) await s.roles.assign('client', created.clientId, roles);
      auditAdmin(
        s,
        req,
        'client.create',
        { type: 'client', id: created.clientId },
        { kind: input.kind, roles },
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...(await s.clients.get(created.clientId)), ...created, roles });
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/admin/clients/:id',
    { preHandler: clientsWrite, schema: { params: idParams } },
    async (req, reply) => {
      await assertMayTakeOver(s, req, { type: 'client', id: req.params.id });
      await s.clients.delete(req.params.id);
      await s.roles.assign('client', req.params.id, []);
      auditAdmin(s, req, 'client.delete', { type: 'client', id: req.params.id });
      return reply.code(204).send();
    },
  );
  app.post<{ Params: { id: string } }>(
    '/admin/clients/:id/secret',
    { preHandler: clientsWrite, schema: { params: idParams } },
    async (req, reply) => {
      // The new secret is the account: only for a caller who holds everything the account holds.
      await assertMayTakeOver(s, req, { type: 'client', id: req.params.id });
      const clientSecret = await s.clients.rotateSecret(req.params.id);
      auditAdmin(s, req, 'client.secret_rotate', { type: 'client', id: req.params.id });
      return reply.header('cache-control', 'no-store').send({ clientId: req.params.id, clientSecret });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/admin/users/:id/sessions',
    { preHandler: requirePermission(s, PERMISSIONS.usersRead), schema: { params: idParams } },
    async (req) => {
      const rows = await s.store.query<{ payload: string; expires_at: number | null }>(
        "SELECT payload, expires_at FROM oidc_models WHERE model = 'Session'",
      );
      const sessions = rows
        .map(
          (r): Record<string, unknown> => ({
            ...(JSON.parse(r.payload) as Record<string, unknown>),
            expiresAt: r.expires_at,
          }),
        )
        .filter((p) => p['accountId'] === req.params.id)
        .map((p) => ({
          // The session uid, not its id: the id is the cookie value and stays secret.
          uid: p['uid'],
          loginAt: typeof p['loginTs'] === 'number' ? new Date(p['loginTs'] * 1000).toISOString() : null,
          acr: p['acr'] ?? null,
          amr: p['amr'] ?? [],
          clients: Object.keys((p['authorizations'] as Record<string, unknown> | undefined) ?? {}),
          expiresAt: p['expiresAt'] === null ? null : new Date(Number(p['expiresAt'])).toISOString(),
        }));
      return { sessions };
    },
  );

  // Ends every session and revokes every grant of a user: refresh tokens die and access tokens are listed.
  app.delete<{ Params: { id: string } }>(
    '/admin/users/:id/sessions',
    { preHandler: requirePermission(s, PERMISSIONS.sessionsWrite), schema: { params: idParams } },
    async (req) => {
      const userId = req.params.id;
      const rows = await s.store.query<{ model: string; id: string; payload: string }>(
        "SELECT model, id, payload FROM oidc_models WHERE model IN ('Session', 'Grant')",
      );
      let sessions = 0;
      let grants = 0;
      for (const row of rows) {
        if ((JSON.parse(row.payload) as { accountId?: string }).accountId !== userId) continue;
        if (row.model === 'Grant') {
          await s.store.execute('DELETE FROM oidc_models WHERE grant_id = ?', [row.id]);
          await s.revocations.revokeGrant(row.id, 'sessions revoked by admin');
          grants++;
        }
        await s.store.execute('DELETE FROM oidc_models WHERE model = ? AND id = ?', [row.model, row.id]);
        if (row.model === 'Session') sessions++;
      }
      auditAdmin(s, req, 'sessions.revoke', { type: 'user', id: userId }, { sessions, grants });
      return { sessions, grants };
    },
  );

  app.get('/admin/keys', { preHandler: requirePermission(s, PERMISSIONS.keysRead) }, async () => ({
    keys: await s.keys.list(),
  }));
  app.post<{ Body: { phase?: RotationPhase } }>(
    '/admin/keys/rotate',
    {
      preHandler: requirePermission(s, PERMISSIONS.keysRotate),
      schema: {
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { phase: { type: 'string', enum: ['publish', 'switch', 'retire'] } },
        },
      },
    },
    async (req) => {
      const phase = await s.keys.rotate(req.body?.phase);
      await s.host.rebuild();
      auditAdmin(s, req, 'keys.rotate', { type: 'signing_key', id: phase }, { phase });
      return { phase, keys: await s.keys.list() };
    },
  );

  app.get<{ Querystring: { since?: number } }>(
    '/revocations',
    {
      preHandler: requirePermission(s, PERMISSIONS.revocationsRead),
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'integer', minimum: 0 } },
        },
      },
    },
    async (req, reply) =>
      reply
        .header('cache-control', 'no-store')
        .send({ revocations: await s.revocations.list(req.query.since ?? 0) }),
  );
}
