/**
 * The identity component from the attacker's side: redirect URI tricks, PKCE removal and downgrade, code
 * replay and theft, refresh-token replay, tokens in URLs, caching of token responses, clickjacking, CSRF,
 * user enumeration, forbidden grants, and the admin API without the right token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { request } from 'undici';
import { csrfOf, interactionUid } from './fixtures/browser.ts';
import { type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  callback,
  claimsOf,
  consent,
  createUser,
  createWebClient,
  newBrowser,
  REDIRECT_URI,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';

describe('attacks on the identity provider', () => {
  let f: IdentityFixture;
  let admin: string;
  let web: { clientId: string; clientSecret: string };
  let rp: oidc.Configuration;
  let gateway: { clientId: string; clientSecret: string };

  const tokenRequest = async (
    params: Record<string, string>,
    client: { clientId: string; clientSecret: string },
  ) => {
    const res = await request(`${f.issuer}/token`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams(params).toString(),
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: (await res.body.json()) as Record<string, string>,
    };
  };
  const introspect = async (token: string) => {
    const res = await request(`${f.issuer}/token/introspection`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${gateway.clientId}:${gateway.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: (await res.body.json()) as { active: boolean },
    };
  };
  /** Signs a fresh user in and returns the redirect carrying the code, plus the PKCE verifier. */
  const codeFor = async (username: string) => {
    await createUser(f, admin, { username });
    const browser = newBrowser(f);
    const start = await startAuthorization(rp);
    const redirect = await consent(browser, await submitPassword(browser, start.url, username));
    const code = new URL(redirect.location!).searchParams.get('code')!;
    return { start, redirect, code };
  };

  before(async () => {
    f = await startIdentity('sqlite', {
      refreshReuseGraceSeconds: 0,
      bruteForce: { ipFree: 200, ipCap: 500 },
    });
    admin = await f.adminToken();
    web = await createWebClient(f, admin);
    rp = await rpConfig(f, web);
    gateway = (
      await f.api<{ clientId: string; clientSecret: string }>(
        'POST',
        '/admin/clients',
        { name: 'gw', kind: 'service', introspection: true },
        admin,
      )
    ).body;
  });
  after(() => f?.stop());

  it('refuses every redirect_uri that is not exactly a registered one, without redirecting to it', async () => {
    const variants = [
      'https://RP.example.test/callback',
      'https://rp.example.test/Callback',
      'https://rp.example.test/callback/',
      'https://rp.example.test/callback/../callback',
      'https://rp.example.test/callback?x=1',
      'https://rp.example.test/callback#x',
      'https://rp.example.test@evil.test/callback',
      'https://evil.test/callback?u=https://rp.example.test/callback',
      'https://rp.example.test%2Fcallback',
      'https://rp.example.test/callback%2F',
      'https://rp.example.test/%63allback',
      'https://evil.rp.example.test/callback',
      'https://rp.example.test.evil.test/callback',
      'http://rp.example.test/callback',
      'https://rp.example.test:8443/callback',
    ];
    for (const redirect of variants) {
      const start = await startAuthorization(rp, { redirect_uri: redirect });
      const res = await newBrowser(f).get(start.url.href);
      assert.equal(res.status, 400, `${redirect} must be refused`);
      assert.equal(res.location, undefined, `${redirect} must not be redirected to`);
      assert.match(res.body, /redirect_uri/);
    }
  });

  it('refuses authorization requests without PKCE or with the plain method', async () => {
    const base = await startAuthorization(rp);
    const cases: Record<string, (u: URL) => void> = {
      missing: (u) => {
        u.searchParams.delete('code_challenge');
        u.searchParams.delete('code_challenge_method');
      },
      plain: (u) => u.searchParams.set('code_challenge_method', 'plain'),
      'method omitted': (u) => u.searchParams.delete('code_challenge_method'),
    };
    for (const [name, mutate] of Object.entries(cases)) {
      const url = new URL(base.url.href);
      mutate(url);
      const res = await newBrowser(f).get(url.href);
      const location = new URL(res.location!);
      assert.equal(location.searchParams.get('error'), 'invalid_request', `PKCE ${name}`);
      assert.equal(location.searchParams.get('code'), null);
    }
  });

  it('refuses a code exchanged without the verifier or with the wrong one', async () => {
    const { code } = await codeFor('pkce-victim');
    const without = await tokenRequest(
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI },
      web,
    );
    assert.equal(without.body['error'], 'invalid_grant');
    const { code: code2 } = await codeFor('pkce-victim2');
    const wrong = await tokenRequest(
      {
        grant_type: 'authorization_code',
        code: code2,
        redirect_uri: REDIRECT_URI,
        code_verifier: oidc.randomPKCECodeVerifier(),
      },
      web,
    );
    assert.equal(wrong.body['error'], 'invalid_grant');
  });

  it('answers a replayed code with invalid_grant and revokes the tokens the first exchange issued', async () => {
    const { start, code } = await codeFor('replay-victim');
    const params = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: start.verifier,
    };
    const first = await tokenRequest(params, web);
    assert.equal(first.status, 200);
    assert.equal((await introspect(first.body['access_token']!)).body.active, true);
    const replay = await tokenRequest(params, web);
    assert.equal(replay.body['error'], 'invalid_grant');
    assert.equal(
      (await introspect(first.body['access_token']!)).body.active,
      false,
      'the access token of the first exchange is revoked',
    );
    const refresh = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: first.body['refresh_token']! },
      web,
    );
    assert.equal(refresh.body['error'], 'invalid_grant', 'so is its refresh token');
  });

  it('refuses a code presented by another client, even with the right verifier', async () => {
    const other = await createWebClient(f, admin);
    const { start, code } = await codeFor('stolen-code');
    const res = await tokenRequest(
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier },
      other,
    );
    assert.equal(res.body['error'], 'invalid_grant');
  });

  it('revokes the grant when a rotated refresh token is replayed, access tokens included', async () => {
    const { start, redirect } = await codeFor('rt-victim');
    const tokens = await callback(rp, redirect, start);
    const rotated = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const replay = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! },
      web,
    );
    assert.equal(replay.body['error'], 'invalid_grant');
    assert.equal((await introspect(rotated.access_token)).body.active, false);
    assert.equal((await introspect(tokens.access_token)).body.active, false);
    const next = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: rotated.refresh_token! },
      web,
    );
    assert.equal(next.body['error'], 'invalid_grant');
  });

  it('never puts tokens in URLs: no implicit or hybrid response types, no fragment delivery of tokens, no password grant', async () => {
    for (const responseType of ['token', 'id_token', 'code id_token', 'code token', 'id_token token']) {
      const start = await startAuthorization(rp, { response_type: responseType });
      const res = await newBrowser(f).get(start.url.href);
      const target = res.location ? new URL(res.location) : undefined;
      assert.ok(
        !target || !/access_token|id_token=/.test(target.hash + target.search),
        `${responseType} leaked a token`,
      );
      assert.ok(
        res.status === 400 ||
          target?.searchParams.get('error') === 'unsupported_response_type' ||
          /unsupported_response_type/.test(target?.hash ?? ''),
        responseType,
      );
    }
    const password = await tokenRequest({ grant_type: 'password', username: 'x', password: 'y' }, web);
    assert.equal(password.body['error'], 'unsupported_grant_type');
    const { redirect } = await codeFor('url-check');
    assert.deepEqual([...new URL(redirect.location!).searchParams.keys()].sort(), ['code', 'iss', 'state']);
  });

  it('sends token and introspection responses with Cache-Control: no-store', async () => {
    const { start, code } = await codeFor('cache-check');
    const res = await tokenRequest(
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier },
      web,
    );
    assert.equal(res.headers['cache-control'], 'no-store');
    const intro = await introspect(res.body['access_token']!);
    assert.match(String(intro.headers['cache-control']), /no-store/);
  });

  it('forbids framing and inline script on the sign-in pages and provider endpoints', async () => {
    const start = await startAuthorization(rp);
    const page = await newBrowser(f).follow(await newBrowser(f).get(start.url.href));
    const browser = newBrowser(f);
    const login = await browser.follow(await browser.get(start.url.href));
    for (const res of [login]) {
      assert.equal(res.headers['x-frame-options'], 'DENY');
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.doesNotMatch(
        res.body,
        /<script>|<script [^>]*>[^<]|style="|onclick=/,
        'no inline script or style',
      );
      assert.match(res.body, /<html lang="en">/);
      assert.match(res.body, /<label for="f-login">/);
      assert.match(res.body, /<label for="f-password">/);
    }
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const discovery = await f.api('GET', '/oidc/.well-known/openid-configuration');
    assert.equal(discovery.headers['x-frame-options'], 'DENY');
  });

  it('refuses login form posts without the CSRF token, from another site, or from another browser', async () => {
    await createUser(f, admin, { username: 'csrf-victim' });
    const browser = newBrowser(f);
    const page = await browser.follow(await browser.get((await startAuthorization(rp)).url.href));
    const uid = interactionUid(page.url);
    const form = { login: 'csrf-victim', password: 'plum orbit velvet canyon 42' };
    assert.equal(
      (await browser.post(`/interaction/${uid}/login`, { ...form, csrf: 'x'.repeat(43) })).status,
      403,
    );
    assert.equal(
      (
        await browser.post(
          `/interaction/${uid}/login`,
          { ...form, csrf: csrfOf(page.body) },
          { 'sec-fetch-site': 'cross-site' },
        )
      ).status,
      403,
    );
    assert.equal(
      (
        await browser.post(
          `/interaction/${uid}/login`,
          { ...form, csrf: csrfOf(page.body) },
          { origin: 'https://evil.test' },
        )
      ).status,
      403,
    );
    const stranger = newBrowser(f);
    assert.equal(
      (await stranger.post(`/interaction/${uid}/login`, { ...form, csrf: csrfOf(page.body) })).status,
      400,
    );
    assert.equal(
      (await browser.post(`/interaction/${uid}/login`, { ...form, csrf: csrfOf(page.body) })).status,
      303,
      'the genuine post works',
    );
  });

  it('gives unknown users and wrong passwords the same message, status and time', async () => {
    await createUser(f, admin, { username: 'enum-real' });
    const attempt = async (login: string) => {
      const browser = newBrowser(f);
      const page = await browser.follow(await browser.get((await startAuthorization(rp)).url.href));
      const began = performance.now();
      const res = await browser.post(`/interaction/${interactionUid(page.url)}/login`, {
        login,
        password: 'wrong password entirely here',
        csrf: csrfOf(page.body),
      });
      return {
        ms: performance.now() - began,
        status: res.status,
        message: /role="alert"[^>]*>([^<]+)</.exec(res.body)?.[1],
      };
    };
    const real: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await attempt('enum-real');
      const b = await attempt(`enum-nobody-${i}`);
      assert.equal(a.status, b.status);
      assert.equal(a.message, b.message);
      real.push(a.ms);
      unknown.push(b.ms);
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(real);
    assert.ok(
      ratio > 0.6 && ratio < 1.6,
      `unknown-user attempts take ${ratio.toFixed(2)}x the time of real ones`,
    );
  });

  it('protects the admin API: no token, a token without the role, a user token and a revoked token are all refused', async () => {
    assert.equal((await f.api('GET', '/admin/users')).status, 401);
    const svc = (
      await f.api<{ clientId: string; clientSecret: string }>(
        'POST',
        '/admin/clients',
        { name: 'plain', kind: 'service', scope: 'identity:admin' },
        admin,
      )
    ).body;
    const plain = await tokenRequest(
      { grant_type: 'client_credentials', resource: 'urn:bulwark:identity', scope: 'identity:admin' },
      svc,
    );
    const forbidden = await f.api<{ code: string }>(
      'GET',
      '/admin/users',
      undefined,
      plain.body['access_token'],
    );
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.code, 'identity_insufficient_permission');
    const apiToken = (await tokenRequest({ grant_type: 'client_credentials' }, svc)).body['access_token']!;
    assert.equal(claimsOf(apiToken)['aud'], 'urn:bulwark:api');
    assert.equal(
      (await f.api('GET', '/admin/users', undefined, apiToken)).status,
      401,
      'a token for another audience is not an admin token',
    );
    const { start, redirect } = await codeFor('plain-user');
    const userTokens = await callback(rp, redirect, start);
    assert.equal((await f.api('GET', '/admin/users', undefined, userTokens.access_token)).status, 401);
    const mine = await f.adminToken();
    const creds = JSON.parse(
      (await import('node:fs')).readFileSync(`${f.home}/identity/admin-client.json`, 'utf8'),
    ) as { clientId: string; clientSecret: string };
    await request(`${f.issuer}/token/revocation`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${creds.clientId}:${creds.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: mine }).toString(),
    });
    assert.equal(
      (await f.api('GET', '/admin/users', undefined, mine)).status,
      401,
      'a revoked admin token stops working at once',
    );
  });

  it("ignores a client's attempt to revoke another client's tokens", async () => {
    const victim = (
      await f.api<{ clientId: string; clientSecret: string }>(
        'POST',
        '/admin/clients',
        { name: 'victim', kind: 'service' },
        admin,
      )
    ).body;
    const token = (await tokenRequest({ grant_type: 'client_credentials' }, victim)).body['access_token']!;
    const res = await request(`${f.issuer}/token/revocation`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${web.clientId}:${web.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    await res.body.dump();
    assert.equal(res.statusCode, 200, 'RFC 7009 §2.2: the answer does not reveal anything');
    assert.equal((await introspect(token)).body.active, true, 'but the token is not revoked');
  });

  it('refuses introspection to callers that do not authenticate', async () => {
    const res = await request(`${f.issuer}/token/introspection`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: admin }).toString(),
    });
    const body = (await res.body.json()) as { error?: string; active?: boolean };
    assert.ok(res.statusCode === 400 || res.statusCode === 401, `status ${res.statusCode}`);
    assert.ok(body.error === 'invalid_request' || body.error === 'invalid_client', `error ${body.error}`);
    assert.equal(body.active, undefined, 'nothing about the token is disclosed');
    const wrongSecret = await request(`${f.issuer}/token/introspection`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${gateway.clientId}:${gateway.clientSecret}x`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: admin }).toString(),
    });
    assert.equal(wrongSecret.statusCode, 401);
    assert.deepEqual(Object.keys((await wrongSecret.body.json()) as object).sort(), [
      'error',
      'error_description',
    ]);
    const asPost = await request(`${f.issuer}/token/introspection`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: admin,
        client_id: gateway.clientId,
        client_secret: gateway.clientSecret,
      }).toString(),
    });
    // client_secret_post goes through oidc-provider (the slow path): it must agree with the fast path.
    const slow = (await asPost.body.json()) as { active?: boolean; sub?: string };
    const fast = await introspect(admin);
    assert.equal(slow.active, true);
    assert.deepEqual(slow, fast.body);
  });
});
