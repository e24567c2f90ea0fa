/**
 * The admin API and the account lifecycle it drives: users with the password policy, invitations, roles
 * with MFA requirements, step-up through acr_values, recovery codes, sessions and clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as oidc from 'openid-client';
import { ACR_MFA } from '../../src/identity/index.ts';
import { csrfOf, interactionUid } from './fixtures/browser.ts';
import { type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  callback,
  claimsOf,
  consent,
  createUser,
  createWebClient,
  enrolTotp,
  newBrowser,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';

describe('admin API and account lifecycle', () => {
  let f: IdentityFixture;
  let admin: string;
  let rp: oidc.Configuration;
  before(async () => {
    f = await startIdentity('sqlite', { bruteForce: { ipFree: 200, ipCap: 500 } });
    admin = await f.adminToken();
    rp = await rpConfig(f, await createWebClient(f, admin));
  });
  after(() => f?.stop());

  it('applies NIST SP 800-63B to passwords: length, blocklist, context words; long passphrases pass', async () => {
    const attempt = (username: string, password: string) =>
      f.api<{ code: string; detail: string }>('POST', '/admin/users', { username, password }, admin);
    const short = await attempt('pw1', 'tolerable length');
    assert.equal(short.status, 201, '16 characters without composition rules is fine');
    for (const [password, why] of [
      ['short one', 'under 15 characters'],
      ['passwordpassword', 'in the blocklist'],
      ['Password123!!!!!', 'a decorated common password'],
      ['aaaaaaaaaaaaaaaaaaaa', 'repetitive'],
      ['abcdefghijklmnopq', 'sequential'],
      ['walter-is-my-name-for-sure', 'contains the username'],
    ]) {
      const res = await attempt('walter', password!);
      assert.equal(res.status, 400, why);
      assert.equal(res.body.code, 'identity_password_policy', why);
    }
    assert.equal(
      (await attempt('pw3', `${'correct horse battery staple '.repeat(3)}x`)).status,
      201,
      'long passphrases are allowed',
    );
    const dup = await attempt('PW1', 'another fine passphrase here');
    assert.equal(dup.status, 409, 'usernames are unique, case-insensitively');
  });

  it('creates invited users whose one-time link sets the password', async () => {
    const res = await f.api<{ id: string; status: string; invitation: { url: string } }>(
      'POST',
      '/admin/users',
      { username: 'invitee', email: 'invitee@example.test' },
      admin,
    );
    assert.equal(res.status, 201);
    assert.equal(res.body.status, 'invited');
    const link = new URL(res.body.invitation.url);
    const token = link.searchParams.get('token')!;
    assert.equal(link.pathname, '/invitation', 'the token is a query parameter (masked in logs), not a path');
    const browser = newBrowser(f);
    const pageRes = await browser.get(`${link.pathname}${link.search}`);
    assert.equal(pageRes.status, 200);
    assert.match(pageRes.body, /name="token"/);
    const weak = await browser.post('/invitation', { token, password: 'password123' });
    assert.equal(weak.status, 400);
    assert.equal(
      (await browser.post('/invitation', { token, password: 'a garden of quiet lanterns' })).status,
      200,
    );
    const again = await browser.post('/invitation', { token, password: 'a garden of quiet lanterns' });
    assert.equal(again.status, 400, 'the link works once');
    assert.equal((await browser.get(`${link.pathname}${link.search}`)).status, 400);
    const user = await f.api<{ status: string }>('GET', `/admin/users/${res.body.id}`, undefined, admin);
    assert.equal(user.body.status, 'active');
    const signIn = await submitPassword(
      browser,
      (await startAuthorization(rp)).url,
      'invitee@example.test',
      'a garden of quiet lanterns',
    );
    assert.equal(signIn.status, 303, 'the invited user signs in with the e-mail address');
  });

  it('steps a password session up to MFA when the client asks with acr_values, and accepts a recovery code once', async () => {
    await createUser(f, admin, { username: 'stepper' });
    const browser = newBrowser(f);
    const start = await startAuthorization(rp);
    const plain = await callback(
      rp,
      await consent(browser, await submitPassword(browser, start.url, 'stepper')),
      start,
    );
    assert.notEqual(plain.claims()!.acr, ACR_MFA);
    // Same browser session, now the RP wants MFA: the user is sent to enrol a second factor.
    const up = await startAuthorization(rp, { acr_values: ACR_MFA, prompt: 'login consent' });
    const enrolPage = await browser.follow(await browser.get(up.url.href));
    let enrolment: Awaited<ReturnType<typeof enrolTotp>>;
    if (enrolPage.body.includes('name="password"')) {
      const uid = interactionUid(enrolPage.url);
      enrolment = await enrolTotp(
        browser,
        await browser.post(`/interaction/${uid}/login`, {
          login: 'stepper',
          password: 'plum orbit velvet canyon 42',
          csrf: csrfOf(enrolPage.body),
        }),
      );
    } else {
      enrolment = await enrolTotp(browser, enrolPage);
    }
    const stepped = await callback(rp, await consent(browser, enrolment.next), up);
    assert.equal(stepped.claims()!.acr, ACR_MFA);
    // A fresh browser with the password and a recovery code.
    const other = newBrowser(f);
    const mfa = await other.follow(
      await submitPassword(other, (await startAuthorization(rp)).url, 'stepper'),
    );
    const uid = interactionUid(mfa.url);
    const code = enrolment.recoveryCodes[0]!;
    const used = await other.post(`/interaction/${uid}/mfa`, { csrf: csrfOf(mfa.body), recovery_code: code });
    assert.equal(used.status, 303);
    const third = newBrowser(f);
    const mfa3 = await third.follow(
      await submitPassword(third, (await startAuthorization(rp)).url, 'stepper'),
    );
    const again = await third.post(`/interaction/${interactionUid(mfa3.url)}/mfa`, {
      csrf: csrfOf(mfa3.body),
      recovery_code: code,
    });
    assert.equal(again.status, 401, 'a recovery code works once');
  });

  it('requires MFA for roles that say so, puts roles in tokens, and revokes a user’s sessions and tokens', async () => {
    const role = await f.api(
      'PUT',
      '/admin/roles/payments',
      { permissions: ['payments:write'], mfaRequired: true },
      admin,
    );
    assert.equal(role.status, 200);
    const user = await createUser(f, admin, { username: 'payer', roles: ['payments'] });
    const browser = newBrowser(f);
    const start = await startAuthorization(rp);
    const enrolPage = await browser.follow(await submitPassword(browser, start.url, 'payer'));
    assert.match(enrolPage.url, /mfa\/enrol/, 'a role with mfaRequired forces enrolment');
    const { next } = await enrolTotp(browser, enrolPage);
    const tokens = await callback(rp, await consent(browser, next), start);
    assert.deepEqual(claimsOf(tokens.access_token)['roles'], ['payments']);
    const listed = await f.api<{
      sessions: { uid: string; acr: string; amr: string[]; clients: string[] }[];
    }>('GET', `/admin/users/${user.id}/sessions`, undefined, admin);
    assert.equal(listed.body.sessions.length, 1);
    assert.equal(listed.body.sessions[0]!.acr, ACR_MFA);
    assert.ok(
      !JSON.stringify(listed.body).includes(browser.cookies.get('_session') ?? '\u0000'),
      'the session cookie value is not exposed',
    );
    const revoked = await f.api<{ sessions: number; grants: number }>(
      'DELETE',
      `/admin/users/${user.id}/sessions`,
      undefined,
      admin,
    );
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.grants >= 1 && revoked.body.sessions >= 1);
    const feed = await f.api<{ revocations: { kind: string; value: string }[] }>(
      'GET',
      '/revocations',
      undefined,
      admin,
    );
    assert.ok(
      feed.body.revocations.some(
        (r) => r.kind === 'grant' && r.value === claimsOf(tokens.access_token)['gid'],
      ),
    );
    const again = await browser.follow(await browser.get((await startAuthorization(rp)).url.href));
    assert.match(again.body, /name="password"/, 'the session is gone');
  });

  it('lets a user call the admin API with exactly the permissions of their roles', async () => {
    await f.api('PUT', '/admin/roles/helpdesk', { permissions: ['identity:users:read'] }, admin);
    await createUser(f, admin, { username: 'helper', roles: ['helpdesk'] });
    const browser = newBrowser(f);
    const start = await startAuthorization(rp, {
      resource: 'urn:bulwark:identity',
      scope: 'openid identity:admin',
    });
    const tokens = await callback(
      rp,
      await consent(browser, await submitPassword(browser, start.url, 'helper')),
      start,
    );
    assert.equal(claimsOf(tokens.access_token)['aud'], 'urn:bulwark:identity');
    assert.equal(
      (await f.api('GET', '/admin/users', undefined, tokens.access_token)).status,
      200,
      'read is granted',
    );
    const write = await f.api<{ code: string }>(
      'POST',
      '/admin/users',
      { username: 'sneaky' },
      tokens.access_token,
    );
    assert.equal(write.status, 403, 'write is not');
    assert.equal(write.body.code, 'identity_insufficient_permission');
    // Removing the role takes effect at once, before the token expires.
    const helper = (
      await f.api<{ users: { id: string; username: string }[] }>('GET', '/admin/users', undefined, admin)
    ).body.users.find((u) => u.username === 'helper')!;
    await f.api('PATCH', `/admin/users/${helper.id}`, { roles: [] }, admin);
    assert.equal((await f.api('GET', '/admin/users', undefined, tokens.access_token)).status, 403);
  });

  it('validates client registrations and rotates client secrets', async () => {
    const bad = await f.api<{ code: string }>(
      'POST',
      '/admin/clients',
      { name: 'bad', kind: 'web', redirectUris: ['javascript:alert(1)'] },
      admin,
    );
    assert.equal(bad.status, 400);
    const created = await f.api<{ clientId: string; clientSecret: string }>(
      'POST',
      '/admin/clients',
      { name: 'svc', kind: 'service' },
      admin,
    );
    const rotated = await f.api<{ clientSecret: string }>(
      'POST',
      `/admin/clients/${created.body.clientId}/secret`,
      undefined,
      admin,
    );
    assert.notEqual(rotated.body.clientSecret, created.body.clientSecret);
    const list = await f.api<{ clients: { clientId: string }[] }>('GET', '/admin/clients', undefined, admin);
    assert.ok(list.body.clients.some((c) => c.clientId === created.body.clientId));
    assert.ok(!JSON.stringify(list.body).includes('sha256:'), 'secret digests are not returned');
    assert.ok(f.audit.events.some((e) => e.action === 'identity.admin.client.secret_rotate'));
  });
});
