/**
 * Brute-force protection from the attacker's side: growing delays, the per-account cap that does not lock
 * the owner out (device cookies), password spraying across accounts from one address, throttling of
 * unknown names like real ones, and TOTP replay and guessing.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Browser } from './fixtures/browser.ts';
import { csrfOf, interactionUid } from './fixtures/browser.ts';
import { type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  callback,
  consent,
  createUser,
  createWebClient,
  enrolTotp,
  newBrowser,
  PASSWORD,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';

async function setup(settings: Record<string, unknown>) {
  const f = await startIdentity('sqlite', settings);
  const admin = await f.adminToken();
  const rp = await rpConfig(f, await createWebClient(f, admin));
  return { f, admin, rp };
}

describe('brute-force protection', () => {
  const servers: IdentityFixture[] = [];
  after(() => Promise.all(servers.map((f) => f.stop())));

  it('delays an account after repeated failures, without counting the refused attempts, and even the right password waits', async () => {
    const { f, admin, rp } = await setup({ bruteForce: { ipFree: 200, ipCap: 500 } });
    servers.push(f);
    await createUser(f, admin, { username: 'slow' });
    const attacker = newBrowser(f);
    for (let i = 0; i < 6; i++) {
      const res = await submitPassword(
        attacker,
        (await startAuthorization(rp)).url,
        'slow',
        `guess number ${i} of many`,
      );
      assert.equal(res.status, 401, `attempt ${i + 1}`);
    }
    const blocked = await submitPassword(attacker, (await startAuthorization(rp)).url, 'slow', PASSWORD);
    assert.equal(blocked.status, 429, 'the sixth failure starts a delay');
    assert.ok(Number(blocked.headers['retry-after']) >= 1);
    await new Promise((r) => setTimeout(r, 1100));
    const ok = await submitPassword(attacker, (await startAuthorization(rp)).url, 'slow', PASSWORD);
    assert.equal(
      ok.status,
      303,
      'after the delay the right password works (the refused attempt was not counted)',
    );
    assert.ok(f.audit.events.some((e) => e.action === 'identity.login' && e.reason === 'throttled'));
  });

  it('caps failures per account far below 100 and still lets the owner in from a device that signed in before', async () => {
    const { f, admin, rp } = await setup({ bruteForce: { accountCap: 3, ipFree: 200, ipCap: 500 } });
    servers.push(f);
    await createUser(f, admin, { username: 'owner' });
    const owner = newBrowser(f);
    const start = await startAuthorization(rp);
    await callback(rp, await consent(owner, await submitPassword(owner, start.url, 'owner')), start);
    const attacker = newBrowser(f);
    for (let i = 0; i < 3; i++)
      await submitPassword(attacker, (await startAuthorization(rp)).url, 'owner', `attacker guess ${i} xx`);
    assert.equal(
      (await submitPassword(attacker, (await startAuthorization(rp)).url, 'owner', PASSWORD)).status,
      429,
      'locked for unknown devices',
    );
    assert.ok(f.audit.events.some((e) => e.action === 'identity.lockout'));
    // The owner's browser kept its device cookie; its sign-in session is ended to force a password.
    owner.cookies.forEach((_v, k) => {
      if (!k.includes('bw_device')) owner.cookies.delete(k);
    });
    const res = await submitPassword(owner, (await startAuthorization(rp)).url, 'owner');
    assert.equal(res.status, 303, 'the lockout is not a weapon against the owner');
  });

  it('blocks an address spraying one password across many accounts', async () => {
    const { f, admin, rp } = await setup({ bruteForce: { ipFree: 2, ipCap: 5 } });
    servers.push(f);
    for (let i = 0; i < 6; i++) await createUser(f, admin, { username: `spray${i}` });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (
          await submitPassword(
            newBrowser(f),
            (
              await startAuthorization(rp)
            ).url,
            `spray${i}`,
            'Summer2026 is here!!',
          )
        ).status,
      );
    }
    assert.ok(statuses.every((s) => s === 401 || s === 429));
    const after = await submitPassword(newBrowser(f), (await startAuthorization(rp)).url, 'spray5', PASSWORD);
    assert.equal(after.status, 429, 'the address is blocked even for a correct password');
  });

  it('throttles unknown usernames exactly like real ones, so the throttle reveals no account', async () => {
    const { f, admin, rp } = await setup({ bruteForce: { accountCap: 3, ipFree: 200, ipCap: 500 } });
    servers.push(f);
    await createUser(f, admin, { username: 'exists' });
    const run = async (login: string) => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++)
        out.push(
          (await submitPassword(newBrowser(f), (await startAuthorization(rp)).url, login, `nope nope ${i}`))
            .status,
        );
      return out;
    };
    assert.deepEqual(await run('ghost'), await run('exists'));
  });

  it('accepts a TOTP code once only and blocks code guessing', async () => {
    const { f, admin, rp } = await setup({ bruteForce: { ipFree: 200, ipCap: 500, mfaCap: 4 } });
    servers.push(f);
    await createUser(f, admin, { username: 'totp', roles: ['admin'] });
    const first = newBrowser(f);
    const start = await startAuthorization(rp);
    const { totp } = await enrolTotp(first, await submitPassword(first, start.url, 'totp'));
    const mfaForm = async (browser: Browser) => {
      const page = await browser.follow(
        await submitPassword(browser, (await startAuthorization(rp)).url, 'totp'),
      );
      assert.match(page.body, /name="code"/);
      return { uid: interactionUid(page.url), csrf: csrfOf(page.body) };
    };
    // The code used during enrolment cannot be used again (RFC 6238 §5.2).
    const replayer = newBrowser(f);
    const form = await mfaForm(replayer);
    const usedCode = totp.generate();
    const replay = await replayer.post(`/interaction/${form.uid}/mfa`, { csrf: form.csrf, code: usedCode });
    assert.equal(replay.status, 401, 'replayed code refused');
    const nextStep = totp.generate({ timestamp: Date.now() + 30_000 });
    assert.equal(
      (await replayer.post(`/interaction/${form.uid}/mfa`, { csrf: form.csrf, code: nextStep })).status,
      303,
      'the next step is accepted',
    );
    assert.equal(
      (await newBrowser(f).post(`/interaction/${form.uid}/mfa`, { csrf: form.csrf, code: nextStep })).status,
      400,
      'and not by another browser',
    );
    // Guessing: after mfaCap wrong codes even a right one is refused.
    const guesser = newBrowser(f);
    const g = await mfaForm(guesser);
    let last = 0;
    for (let i = 0; i < 5; i++)
      last = (await guesser.post(`/interaction/${g.uid}/mfa`, { csrf: g.csrf, code: String(100000 + i) }))
        .status;
    assert.equal(last, 429);
    const right = totp.generate({ timestamp: Date.now() + 60_000 });
    assert.equal(
      (await guesser.post(`/interaction/${g.uid}/mfa`, { csrf: g.csrf, code: right })).status,
      429,
    );
    assert.ok(f.audit.events.some((e) => e.action === 'identity.mfa.verify' && e.outcome === 'failure'));
    assert.ok(f.audit.events.some((e) => e.action === 'identity.lockout' && e.target?.type === 'mfa'));
  });
});
