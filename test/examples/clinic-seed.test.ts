/**
 * The demo seed against a real `identity`: roles, users (admin bound to MFA), the public PKCE client, and
 * patient records keyed by the users' subjects. Run twice, it changes nothing and fails on nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { DEMO_USERS, demoPatients, seedIdentity } from '../../examples/clinic/seed.ts';
import { adminCredentialsPath } from '../../src/identity/index.ts';
import { type IdentityFixture, startIdentity } from '../identity/fixtures/identity-server.ts';

let identity: IdentityFixture;
before(async () => {
  identity = await startIdentity('sqlite');
});
after(async () => {
  await identity?.stop();
});

test('the seed creates the clinic roles, users and client through identity’s admin API, once', async () => {
  const admin = {
    url: identity.url,
    ca: identity.ca,
    credentials: JSON.parse(readFileSync(adminCredentialsPath(identity.home), 'utf8')),
  };
  const users = await seedIdentity(admin);
  assert.deepEqual(
    users.map((u) => u.username),
    DEMO_USERS.map((u) => u.username),
  );
  for (const u of users) assert.ok(u.password.length >= 15, `${u.username} got a usable password`);

  const token = await identity.adminToken();
  const roles = (
    await identity.api<{ roles: { name: string; mfaRequired: boolean }[] }>(
      'GET',
      '/admin/roles',
      undefined,
      token,
    )
  ).body.roles;
  for (const name of ['patient', 'doctor', 'billing-clerk', 'admin'])
    assert.ok(
      roles.some((r) => r.name === name),
      `role ${name} exists`,
    );
  const erin = users.find((u) => u.username === 'erin')!;
  const erinRecord = await identity.api<{ roles: string[] }>(
    'GET',
    `/admin/users/${erin.subject}`,
    undefined,
    token,
  );
  assert.deepEqual(erinRecord.body.roles, ['admin']);
  const clients = (
    await identity.api<{ clients: { clientId?: string; client_id?: string }[] }>(
      'GET',
      '/admin/clients',
      undefined,
      token,
    )
  ).body.clients;
  assert.ok(JSON.stringify(clients).includes('clinic-web'));

  const records = demoPatients(users);
  const alice = users.find((u) => u.username === 'alice')!;
  const carol = users.find((u) => u.username === 'dr-carol')!;
  assert.equal(records[0]!.id, alice.subject);
  assert.equal(records[0]!.doctor, carol.subject);

  // Idempotent: a second run keeps the same subjects and hands out no new password.
  const again = await seedIdentity(admin);
  assert.deepEqual(
    again.map((u) => u.subject),
    users.map((u) => u.subject),
  );
  assert.ok(again.every((u) => u.password === ''));
});
