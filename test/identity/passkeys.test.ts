/**
 * Passkeys through the HTTP endpoints the passkey script calls: registration during enrolment,
 * authentication as the second factor, and the server-side refusals (no user verification, wrong CSRF
 * token, replayed assertion).
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
  newBrowser,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';
import { SoftAuthenticator, UP } from './fixtures/soft-authenticator.ts';

describe('passkeys over HTTP', () => {
  let f: IdentityFixture;
  let rp: oidc.Configuration;
  let device: SoftAuthenticator;
  before(async () => {
    f = await startIdentity('sqlite', { bruteForce: { ipFree: 200, ipCap: 500 } });
    const admin = await f.adminToken();
    rp = await rpConfig(f, await createWebClient(f, admin));
    await createUser(f, admin, { username: 'keyholder', roles: ['admin'] });
    device = new SoftAuthenticator(new URL(f.url).origin);
  });
  after(() => f?.stop());

  it('registers a passkey during enrolment and signs in with acr mfa and amr hwk', async () => {
    const browser = newBrowser(f);
    const start = await startAuthorization(rp);
    const enrol = await browser.follow(await submitPassword(browser, start.url, 'keyholder'));
    assert.match(enrol.url, /mfa\/enrol/);
    assert.match(enrol.body, /src="\/assets\/passkey\.js"/);
    const uid = interactionUid(enrol.url);
    const csrf = csrfOf(enrol.body);
    assert.equal(
      (await browser.json(`/interaction/${uid}/passkey/register/options`, { csrf: 'x'.repeat(43) })).status,
      403,
    );
    const options = await browser.json(`/interaction/${uid}/passkey/register/options`, { csrf });
    assert.equal(options.status, 200);
    const registered = await browser.json(`/interaction/${uid}/passkey/register`, {
      csrf,
      response: device.register(String(options.body['challenge'])),
    });
    assert.equal(registered.status, 200);
    const done = await browser.post(String(registered.body['next']), { csrf });
    const tokens = await callback(rp, await consent(browser, done), start);
    assert.equal(tokens.claims()!.acr, ACR_MFA);
    assert.ok((claimsOf(tokens.access_token)['amr'] as string[]).includes('hwk'));
    assert.ok(
      f.audit.events.some((e) => e.action === 'identity.mfa.enrol' && e.details?.['method'] === 'passkey'),
    );
  });

  it('authenticates with the passkey as second factor and refuses assertions without user verification or replayed', async () => {
    const browser = newBrowser(f);
    const start = await startAuthorization(rp);
    const mfa = await browser.follow(await submitPassword(browser, start.url, 'keyholder'));
    assert.match(mfa.body, /id="passkey-authenticate"/);
    const uid = interactionUid(mfa.url);
    const csrf = csrfOf(mfa.body);
    let options = await browser.json(`/interaction/${uid}/passkey/authenticate/options`, { csrf });
    const noUv = await browser.json(`/interaction/${uid}/passkey/authenticate`, {
      csrf,
      response: device.authenticate(String(options.body['challenge']), { flags: UP }),
    });
    assert.equal(noUv.status, 400);
    assert.equal(noUv.body['code'], 'identity_mfa_invalid');
    options = await browser.json(`/interaction/${uid}/passkey/authenticate/options`, { csrf });
    const assertion = device.authenticate(String(options.body['challenge']));
    const ok = await browser.json(`/interaction/${uid}/passkey/authenticate`, { csrf, response: assertion });
    assert.equal(ok.status, 200);
    assert.equal(
      (await browser.json(`/interaction/${uid}/passkey/authenticate`, { csrf, response: assertion })).status,
      400,
      'replay',
    );
    const tokens = await callback(
      rp,
      await consent(browser, await browser.post(String(ok.body['next']), { csrf })),
      start,
    );
    assert.equal(tokens.claims()!.acr, ACR_MFA);
  });
});
