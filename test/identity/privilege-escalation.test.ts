/**
 * Privilege escalation through the admin API, from the side of a partial administrator: holding
 * `identity:users:write`, `identity:clients:write` or `identity:roles:write` must not let a caller hand
 * itself (or anyone, or a service account that never passes MFA) more than it already holds.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type * as oidc from 'openid-client';
import { request } from 'undici';
import { revocationReaderCredentialsPath } from '../../src/identity/index.ts';
import { type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  callback,
  consent,
  createUser,
  createWebClient,
  newBrowser,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';

type Problem = { code: string; detail: string };

describe('admin privilege escalation', () => {
  let f: IdentityFixture;
  let admin: string;
  let rp: oidc.Configuration;
  let manager: { id: string; token: string };
  let boss: { id: string };
  const roles: Record<string, { permissions: string[]; mfaRequired?: boolean }> = {
    'user-manager': { permissions: ['identity:users:read', 'identity:users:write'] },
    'client-manager': { permissions: ['identity:clients:read', 'identity:clients:write', 'orders:*'] },
    'role-manager': { permissions: ['identity:roles:write', 'identity:users:read', 'orders:*'] },
    'orders-reader': { permissions: ['orders:read'] },
    'orders-desk': { permissions: ['orders:read'] },
    payments: { permissions: ['payments:write'], mfaRequired: true },
    'key-rotator': { permissions: ['identity:keys:rotate'] },
  };

  /** A service account the full admin creates, holding `withRoles`. */
  const serviceAccount = async (name: string, withRoles: string[], scope?: string) => {
    const svc = await f.api<{ clientId: string; clientSecret: string }>(
      'POST',
      '/admin/clients',
      { name, kind: 'service', ...(scope ? { scope } : {}), roles: withRoles },
      admin,
    );
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    return svc.body;
  };

  const serviceToken = async (role: string) => {
    const svc = await serviceAccount(`${role} account`, [role], 'identity:admin');
    const res = await request(`${f.issuer}/token`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${svc.clientId}:${svc.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: 'urn:bulwark:identity',
        scope: 'identity:admin',
      }).toString(),
    });
    const json = (await res.body.json()) as { access_token?: string };
    if (!json.access_token) throw new Error(`token request failed: ${JSON.stringify(json)}`);
    return json.access_token;
  };
  const rolesOf = async (id: string) =>
    (await f.api<{ roles: string[] }>('GET', `/admin/users/${id}`, undefined, admin)).body.roles;
  const usernames = async () =>
    (await f.api<{ users: { username: string }[] }>('GET', '/admin/users', undefined, admin)).body.users.map(
      (u) => u.username,
    );
  const clientNames = async () =>
    (
      await f.api<{ clients: { name?: string; clientName?: string }[] }>(
        'GET',
        '/admin/clients',
        undefined,
        admin,
      )
    ).body.clients;
  const refused = (res: { status: number; body: Problem }, why: string) => {
    assert.equal(res.status, 403, `${why}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, 'identity_insufficient_permission', why);
  };

  before(async () => {
    f = await startIdentity('sqlite', { bruteForce: { ipFree: 200, ipCap: 500 } });
    admin = await f.adminToken();
    rp = await rpConfig(f, await createWebClient(f, admin));
    for (const [name, role] of Object.entries(roles)) {
      const res = await f.api('PUT', `/admin/roles/${name}`, role, admin);
      assert.equal(res.status, 200);
    }
    boss = await createUser(f, admin, { username: 'boss', roles: ['admin'] });
    const created = await createUser(f, admin, { username: 'manager', roles: ['user-manager'] });
    const browser = newBrowser(f);
    const start = await startAuthorization(rp, {
      resource: 'urn:bulwark:identity',
      scope: 'openid identity:admin',
    });
    const tokens = await callback(
      rp,
      await consent(browser, await submitPassword(browser, start.url, 'manager')),
      start,
    );
    manager = { id: created.id, token: tokens.access_token };
  });
  after(() => f?.stop());

  it('stops identity:users:write from granting roles beyond its own permissions, admin included, to itself or others', async () => {
    const self = `/admin/users/${manager.id}`;
    refused(
      await f.api<Problem>('PATCH', self, { roles: ['user-manager', 'admin'] }, manager.token),
      'making oneself admin',
    );
    refused(
      await f.api<Problem>('PATCH', self, { roles: ['user-manager', 'key-rotator'] }, manager.token),
      'adding a permission one lacks to oneself',
    );
    assert.deepEqual(await rolesOf(manager.id), ['user-manager'], 'the refused changes left nothing behind');
    refused(
      await f.api<Problem>('POST', '/admin/users', { username: 'minion', roles: ['admin'] }, manager.token),
      'creating an admin',
    );
    assert.ok(!(await usernames()).includes('minion'), 'the refused user was not created');
    const other = await createUser(f, admin, { username: 'clerk' });
    refused(
      await f.api<Problem>('PATCH', `/admin/users/${other.id}`, { roles: ['orders-reader'] }, manager.token),
      'granting an application permission one lacks',
    );
    // What the caller holds it may pass on, and a change that grants nothing new needs nothing.
    const peer = await f.api(
      'POST',
      '/admin/users',
      { username: 'peer', roles: ['user-manager'] },
      manager.token,
    );
    assert.equal(peer.status, 201);
    assert.equal(
      (await f.api('PATCH', self, { roles: ['user-manager'], status: 'active' }, manager.token)).status,
      200,
    );
    // A full admin still can.
    assert.equal((await f.api('PATCH', `/admin/users/${other.id}`, { roles: ['admin'] }, admin)).status, 200);
  });

  it('stops identity:users:write from taking over an admin account through an invitation or an MFA reset', async () => {
    refused(
      await f.api<Problem>('POST', `/admin/users/${boss.id}/invitation`, undefined, manager.token),
      'an invitation link sets the admin’s password',
    );
    refused(
      await f.api<Problem>('DELETE', `/admin/users/${boss.id}/mfa`, undefined, manager.token),
      'resetting the admin’s MFA',
    );
    const clerk = await createUser(f, admin, { username: 'temp-clerk' });
    assert.equal(
      (await f.api('POST', `/admin/users/${clerk.id}/invitation`, undefined, manager.token)).status,
      201,
      'an account holding nothing beyond the caller’s permissions can be re-invited',
    );
  });

  it('stops identity:users:write from locking out, deleting, unlocking or de-roling a more privileged user', async () => {
    const boss2 = await createUser(f, admin, { username: 'boss-two', roles: ['admin'] });
    const url = `/admin/users/${boss2.id}`;
    refused(await f.api<Problem>('PATCH', url, { status: 'disabled' }, manager.token), 'disabling an admin');
    refused(await f.api<Problem>('PATCH', url, { roles: [] }, manager.token), 'taking admin away');
    refused(await f.api<Problem>('DELETE', url, undefined, manager.token), 'deleting an admin');
    refused(
      await f.api<Problem>('POST', `${url}/unlock`, undefined, manager.token),
      'lifting an admin lockout',
    );
    assert.deepEqual(await rolesOf(boss2.id), ['admin'], 'the refused changes left nothing behind');
    const user = (await f.api<{ status: string }>('GET', url, undefined, admin)).body;
    assert.equal(user.status, 'active');
    // An account holding nothing beyond the caller's permissions stays the manager's to run.
    const clerk = await createUser(f, admin, { username: 'desk-clerk' });
    assert.equal(
      (await f.api('PATCH', `/admin/users/${clerk.id}`, { status: 'disabled' }, manager.token)).status,
      200,
    );
    assert.equal(
      (await f.api('POST', `/admin/users/${clerk.id}/unlock`, undefined, manager.token)).status,
      204,
    );
    assert.equal((await f.api('DELETE', `/admin/users/${clerk.id}`, undefined, manager.token)).status, 204);
  });

  it('stops identity:clients:write from taking over or deleting a more privileged service account', async () => {
    const token = await serviceToken('client-manager');
    const listed = (
      await f.api<{ clients: { clientId: string }[] }>('GET', '/admin/clients', undefined, admin)
    ).body;
    assert.ok(listed.clients.some((c) => c.clientId === 'bulwark-admin'));
    // A new secret for bulwark-admin (which holds admin) would be a full identity administrator.
    refused(
      await f.api<Problem>('POST', '/admin/clients/bulwark-admin/secret', undefined, token),
      'a new secret for the admin service account',
    );
    refused(await f.api<Problem>('DELETE', '/admin/clients/bulwark-admin', undefined, token), 'deleting it');
    const payer = await serviceAccount('payer job', ['key-rotator']);
    refused(
      await f.api<Problem>('POST', `/admin/clients/${payer.clientId}/secret`, undefined, token),
      'a service account holding permissions the caller lacks',
    );
    assert.equal((await f.api('GET', '/admin/clients', undefined, admin)).status, 200);
    // The admin service account still works with its old secret: nothing was rotated.
    assert.ok(await f.adminToken());
    const job = await serviceAccount('orders job', ['orders-reader']);
    assert.equal(
      (await f.api('POST', `/admin/clients/${job.clientId}/secret`, undefined, token)).status,
      200,
      'a service account holding only what the caller holds can be rotated',
    );
  });

  it("gives the gateways' revocation feed account the feed and nothing else", async () => {
    const file = revocationReaderCredentialsPath(f.home);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const reader = await f.adminToken(file);
    assert.equal((await f.api('GET', '/revocations?since=0', undefined, reader)).status, 200);
    refused(await f.api<Problem>('GET', '/admin/users', undefined, reader), 'listing users');
    refused(await f.api<Problem>('GET', '/admin/clients', undefined, reader), 'listing clients');
    refused(
      await f.api<Problem>('POST', '/admin/clients/bulwark-admin/secret', undefined, reader),
      'a new admin secret',
    );
  });

  it('stops identity:clients:write from creating service accounts with admin or privileged roles', async () => {
    const token = await serviceToken('client-manager');
    const before = (await clientNames()).length;
    const create = (name: string, withRoles: string[], bearer = token) =>
      f.api<Problem & { clientId: string }>(
        'POST',
        '/admin/clients',
        { name, kind: 'service', scope: 'identity:admin', roles: withRoles },
        bearer,
      );
    refused(await create('backdoor', ['admin']), 'an admin service account would skip MFA');
    refused(await create('payer', ['payments']), 'a role bound to MFA, on an account that never passes MFA');
    refused(
      await create('twin', ['client-manager']),
      'a role with identity permissions, even ones the caller holds',
    );
    assert.equal((await clientNames()).length, before, 'no refused client was created');
    assert.equal((await create('orders-job', ['orders-reader'])).status, 201, 'held permissions pass');
    assert.equal((await create('real-admin', ['admin'], admin)).status, 201, 'a full admin still can');
  });

  it('stops identity:roles:write from adding permissions it lacks, touching admin or lifting MFA', async () => {
    const token = await serviceToken('role-manager');
    const put = (name: string, body: Record<string, unknown>) =>
      f.api<Problem>('PUT', `/admin/roles/${name}`, body, token);
    refused(
      await put('role-manager', { permissions: [...roles['role-manager']!.permissions, 'identity:*'] }),
      'adding identity:* to its own role',
    );
    refused(await put('orders-reader', { permissions: ['identity:users:write'] }), 'a permission it lacks');
    refused(await put('admin', { permissions: ['identity:*'] }), 'the admin role');
    refused(
      await put('payments', { permissions: ['payments:write'], mfaRequired: false }),
      'lifting MFA from a role whose permissions it lacks',
    );
    const listed = (
      await f.api<{ roles: { name: string; permissions: string[]; mfaRequired: boolean }[] }>(
        'GET',
        '/admin/roles',
        undefined,
        admin,
      )
    ).body.roles;
    assert.deepEqual(
      listed.find((r) => r.name === 'role-manager')!.permissions,
      roles['role-manager']!.permissions,
    );
    assert.equal(listed.find((r) => r.name === 'payments')!.mfaRequired, true);
    // A role a service account holds must not become an identity role: its token never passes MFA.
    await serviceAccount('desk job', ['orders-desk']);
    refused(
      await put('orders-desk', { permissions: ['orders:read', 'identity:users:read'] }),
      'making a client-held role privileged',
    );
    assert.equal(
      (await put('orders-reader', { permissions: ['orders:read', 'orders:write'] })).status,
      200,
      'permissions covered by its own orders:* pass',
    );
    assert.equal(
      (await put('auditor', { permissions: ['identity:users:read'] })).status,
      200,
      'a new role with a permission it holds passes',
    );
  });

  it('stops identity:roles:write from locking holders out by emptying or deleting their roles', async () => {
    const token = await serviceToken('role-manager');
    const del = (name: string) => f.api<Problem>('DELETE', `/admin/roles/${name}`, undefined, token);
    const put = (name: string, body: Record<string, unknown>) =>
      f.api<Problem>('PUT', `/admin/roles/${name}`, body, token);
    // Emptied or gone, the gateways' feed account would be refused the feed: revocations would stop.
    refused(await put('revocation-reader', { permissions: [] }), 'emptying the revocation reader');
    refused(await del('revocation-reader'), 'deleting the revocation reader');
    refused(
      await put('payments', { permissions: [], mfaRequired: true }),
      'emptying a role it does not hold',
    );
    refused(await del('payments'), 'deleting a role whose permissions it lacks');
    refused(await del('orders-desk'), 'deleting a role a service account holds');
    const listed = (
      await f.api<{ roles: { name: string; permissions: string[] }[] }>(
        'GET',
        '/admin/roles',
        undefined,
        admin,
      )
    ).body.roles;
    assert.deepEqual(listed.find((r) => r.name === 'revocation-reader')?.permissions, [
      'identity:revocations:read',
    ]);
    assert.deepEqual(listed.find((r) => r.name === 'payments')?.permissions, ['payments:write']);
    // A role whose permissions it holds, and no service account holds, stays its to change and delete.
    const clerk = { permissions: ['orders:read', 'orders:write'] };
    assert.equal((await f.api('PUT', '/admin/roles/orders-clerk', clerk, admin)).status, 200);
    assert.equal((await put('orders-clerk', { permissions: ['orders:read'] })).status, 200);
    assert.equal((await del('orders-clerk')).status, 204);
  });
});
