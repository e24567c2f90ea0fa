/**
 * Second-factor enrolment from the attacker's side: someone who knows only the password of an account
 * that already has a second factor must not bind their own authenticator (a software passkey, or a TOTP
 * they set up) and walk away with an MFA login. A legitimate enrolment that just proved a factor may
 * still add another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as oidc from 'openid-client';
import { TOTP } from 'otpauth';
import { ACR_MFA } from '../../src/identity/index.ts';
import { type Browser, csrfOf, interactionUid, type PageResponse } from './fixtures/browser.ts';
import { type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  callback,
  consent,
  createUser,
  createWebClient,
  enrolTotp,
  newBrowser,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';
import { SoftAuthenticator } from './fixtures/soft-authenticator.ts';

describe('second-factor enrolment attacks', () => {
  let f: IdentityFixture;
  let rp: oidc.Configuration;
  let origin: string;
  before(async () => {
    f = await startIdentity('sqlite', { bruteForce: { ipFree: 200, ipCap: 500 } });
    const admin = await f.adminToken();
    rp = await rpConfig(f, await createWebClient(f, admin));
    origin = new URL(f.url).origin;
    for (const username of ['totp-victim', 'passkey-victim', 'two-factors'])
      await createUser(f, admin, { username, roles: ['admin'] });
    // The victims enrol their real second factor: one TOTP, one passkey.
    const b1 = newBrowser(f);
    const s1 = await startAuthorization(rp);
    const totp = await enrolTotp(b1, await submitPassword(b1, s1.url, 'totp-victim'));
    assert.equal((await callback(rp, await consent(b1, totp.next), s1)).claims()!.acr, ACR_MFA);
    const b2 = newBrowser(f);
    const s2 = await startAuthorization(rp);
    const enrol = await b2.follow(await submitPassword(b2, s2.url, 'passkey-victim'));
    const registered = await registerPasskey(b2, enrol, new SoftAuthenticator(origin));
    assert.equal(registered.status, 200, 'the owner registers the first factor with the password');
    const done = await b2.post(String(registered.body['next']), { csrf: csrfOf(enrol.body) });
    assert.equal((await callback(rp, await consent(b2, done), s2)).claims()!.acr, ACR_MFA);
  });
  after(() => f?.stop());

  async function registerPasskey(browser: Browser, page: PageResponse, device: SoftAuthenticator) {
    const uid = interactionUid(page.url);
    const csrf = csrfOf(page.body);
    const options = await browser.json(`/interaction/${uid}/passkey/register/options`, { csrf });
    if (options.status !== 200) return options;
    return browser.json(`/interaction/${uid}/passkey/register`, {
      csrf,
      response: device.register(String(options.body['challenge'])),
    });
  }

  it('refuses a passkey registered with only the password of an account that has TOTP', async () => {
    const attacker = newBrowser(f);
    const start = await startAuthorization(rp);
    const mfa = await attacker.follow(await submitPassword(attacker, start.url, 'totp-victim'));
    assert.match(mfa.url, /\/mfa$/, 'the password leads to the second-factor prompt');
    const uid = interactionUid(mfa.url);
    const csrf = csrfOf(mfa.body);
    const device = new SoftAuthenticator(origin);
    const options = await attacker.json(`/interaction/${uid}/passkey/register/options`, { csrf });
    assert.equal(options.status, 403, 'no registration challenge for an unverified login');
    assert.equal(options.body['code'], 'identity_mfa_enrolment_refused');
    // Skipping the options step does not help: the registration itself is refused before verification.
    const reg = await attacker.json(`/interaction/${uid}/passkey/register`, {
      csrf,
      response: device.register('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    });
    assert.equal(reg.status, 403);
    assert.equal(reg.body['code'], 'identity_mfa_enrolment_refused');
    const done = await attacker.post(`/interaction/${uid}/mfa/done`, { csrf });
    assert.equal(done.status, 303);
    assert.equal(
      new URL(done.location!).pathname,
      `/interaction/${uid}`,
      'mfa/done does not finish the login',
    );
    assert.ok(
      f.audit.events.some(
        (e) =>
          e.action === 'identity.mfa.enrol' &&
          e.outcome === 'failure' &&
          e.reason === 'second_factor_not_verified',
      ),
    );
    // The victim's own factor still works and no attacker passkey is offered as an alternative.
    const page = await attacker.follow(await attacker.get(`/interaction/${uid}/mfa`));
    assert.doesNotMatch(page.body, /id="passkey-authenticate"/, 'no passkey was bound to the account');
  });

  it('refuses a TOTP set up with only the password of an account that has a passkey', async () => {
    const attacker = newBrowser(f);
    const start = await startAuthorization(rp);
    const mfa = await attacker.follow(await submitPassword(attacker, start.url, 'passkey-victim'));
    assert.match(mfa.url, /\/mfa$/);
    const uid = interactionUid(mfa.url);
    const csrf = csrfOf(mfa.body);
    const enrol = await attacker.follow(await attacker.get(`/interaction/${uid}/mfa/enrol`));
    assert.doesNotMatch(enrol.body, /id="totp-secret"/, 'no TOTP key is handed out');
    assert.match(enrol.url, /\/mfa$/, 'the enrolment page sends the attacker back to the second factor');
    // A guessed code against any pending seed is refused too, without counting as a verified factor.
    const posted = await attacker.post(`/interaction/${uid}/mfa/enrol`, {
      csrf,
      code: new TOTP({ secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' }).generate(),
    });
    assert.equal(posted.status, 303);
    assert.match(posted.location!, /\/mfa$/);
    const done = await attacker.post(`/interaction/${uid}/mfa/done`, { csrf });
    assert.equal(
      new URL(done.location!).pathname,
      `/interaction/${uid}`,
      'mfa/done does not finish the login',
    );
    const registered = await registerPasskey(attacker, mfa, new SoftAuthenticator(origin));
    assert.equal(registered.status, 403, 'a second passkey needs the first one verified');
  });

  it('lets a user who has just proved a factor in this sign-in add another', async () => {
    const browser = newBrowser(f);
    const start = await startAuthorization(rp);
    const enrol = await browser.follow(await submitPassword(browser, start.url, 'two-factors'));
    const secret = /id="totp-secret">([A-Z2-7]+)</.exec(enrol.body)![1]!;
    const uid = interactionUid(enrol.url);
    const codes = await browser.post(`/interaction/${uid}/mfa/enrol`, {
      csrf: csrfOf(enrol.body),
      code: new TOTP({ secret }).generate(),
    });
    assert.equal(codes.status, 200, 'TOTP confirmed: the login now has a verified second factor');
    const registered = await registerPasskey(browser, enrol, new SoftAuthenticator(origin));
    assert.equal(registered.status, 200, 'a passkey may be added after the TOTP was verified');
    const done = await browser.post(String(registered.body['next']), { csrf: csrfOf(enrol.body) });
    assert.equal((await callback(rp, await consent(browser, done), start)).claims()!.acr, ACR_MFA);
  });
});
