/**
 * A real relying party (openid-client) against the running identity component, on both storage engines:
 * code + PKCE through the login, TOTP and consent pages over HTTPS, refresh with rotation, client
 * credentials, introspection, revocation and RP-initiated logout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { ACR_MFA } from '../../src/identity/index.ts';
import { csrfOf } from './fixtures/browser.ts';
import { type Engine, type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  callback,
  claimsOf,
  consent,
  createUser,
  createWebClient,
  customFetchFor,
  enrolTotp,
  headerOf,
  newBrowser,
  POST_LOGOUT_URI,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';

for (const engine of ['sqlite', 'postgres'] as Engine[]) {
  describe(`relying party flows (${engine})`, () => {
    let f: IdentityFixture;
    let admin: string;
    let web: { clientId: string; clientSecret: string };
    let rp: oidc.Configuration;

    before(async () => {
      f = await startIdentity(engine, { refreshReuseGraceSeconds: 1 });
      admin = await f.adminToken();
      web = await createWebClient(f, admin);
      rp = await rpConfig(f, web);
    });
    after(() => f?.stop());

    it('runs code + PKCE through the login and consent pages and issues RFC 9068 JWT access tokens', async () => {
      const user = await createUser(f, admin, { username: `alice-${engine}` });
      const browser = newBrowser(f);
      const start = await startAuthorization(rp);
      const redirect = await consent(browser, await submitPassword(browser, start.url, `alice-${engine}`));
      assert.ok(!redirect.location!.includes('access_token'), 'tokens never travel in the redirect URL');
      const tokens = await callback(rp, redirect, start);
      assert.equal(tokens.claims()!.sub, user.id);
      assert.deepEqual(headerOf(tokens.access_token), {
        ...headerOf(tokens.access_token),
        typ: 'at+jwt',
        alg: 'ES256',
      });
      const at = claimsOf(tokens.access_token);
      assert.equal(at['aud'], 'urn:bulwark:api');
      assert.equal(at['sub'], user.id);
      assert.deepEqual(at['roles'], []);
      assert.equal(typeof at['gid'], 'string');
      assert.deepEqual(at['amr'], ['pwd']);
      assert.ok(tokens.refresh_token, 'offline_access yields a refresh token');
      assert.ok(
        f.audit.events.some(
          (e) => e.action === 'identity.login' && e.outcome === 'success' && e.actor.id === user.id,
        ),
      );
      assert.ok(f.audit.events.some((e) => e.action === 'identity.token.issue' && e.outcome === 'success'));
      // No secret ends up in the audit trail.
      assert.ok(!JSON.stringify(f.audit.events).includes('plum orbit'));
    });

    it('rotates refresh tokens, tolerates a concurrent reuse inside the grace window, and revokes the grant on later reuse', async () => {
      await createUser(f, admin, { username: `bob-${engine}` });
      const browser = newBrowser(f);
      const start = await startAuthorization(rp);
      const tokens = await callback(
        rp,
        await consent(browser, await submitPassword(browser, start.url, `bob-${engine}`)),
        start,
      );
      const first = tokens.refresh_token!;
      const second = await oidc.refreshTokenGrant(rp, first);
      assert.notEqual(second.refresh_token, first, 'the refresh token rotates');
      const concurrent = await oidc.refreshTokenGrant(rp, first);
      assert.ok(concurrent.access_token, 'a reuse within the grace window still succeeds');
      await new Promise((r) => setTimeout(r, 1200));
      await assert.rejects(
        oidc.refreshTokenGrant(rp, first),
        (err: { error?: string }) => err.error === 'invalid_grant',
      );
      await assert.rejects(
        oidc.refreshTokenGrant(rp, second.refresh_token!),
        (err: { error?: string }) => err.error === 'invalid_grant',
      );
      assert.ok(f.audit.events.some((e) => e.action === 'identity.token.refresh'));
      assert.ok(f.audit.events.some((e) => e.action === 'identity.grant.revoke'));
    });

    it('issues client-credentials tokens to service accounts with hashed secrets, introspects them for authorised clients only, and revokes them', async () => {
      await f.api('PUT', '/admin/roles/orders-reader', { permissions: ['orders:read'] }, admin);
      const svc = await f.api<{ clientId: string; clientSecret: string }>(
        'POST',
        '/admin/clients',
        { name: 'orders', kind: 'service', roles: ['orders-reader'] },
        admin,
      );
      assert.equal(svc.status, 201);
      const rs = await f.api<{ clientId: string; clientSecret: string }>(
        'POST',
        '/admin/clients',
        { name: 'gateway', kind: 'service', introspection: true },
        admin,
      );
      const svcRp = await oidc.discovery(
        new URL(f.issuer),
        svc.body.clientId,
        {},
        oidc.ClientSecretBasic(svc.body.clientSecret),
        customFetchFor(f),
      );
      const gwRp = await oidc.discovery(
        new URL(f.issuer),
        rs.body.clientId,
        {},
        oidc.ClientSecretBasic(rs.body.clientSecret),
        customFetchFor(f),
      );
      const token = await oidc.clientCredentialsGrant(svcRp, {});
      const claims = claimsOf(token.access_token);
      assert.equal(claims['sub'], svc.body.clientId);
      assert.deepEqual(claims['roles'], ['orders-reader']);
      const byGateway = await oidc.tokenIntrospection(gwRp, token.access_token);
      assert.equal(byGateway.active, true);
      assert.equal(byGateway.sub, svc.body.clientId);
      const bySelf = await oidc.tokenIntrospection(svcRp, token.access_token);
      assert.equal(bySelf.active, false, 'a client without the introspection flag learns nothing');
      await oidc.tokenRevocation(svcRp, token.access_token);
      assert.equal(
        (await oidc.tokenIntrospection(gwRp, token.access_token)).active,
        false,
        'revoked JWTs are inactive',
      );
      const feed = await f.api<{ revocations: { kind: string; value: string }[] }>(
        'GET',
        '/revocations',
        undefined,
        admin,
      );
      assert.ok(feed.body.revocations.some((r) => r.kind === 'jti' && r.value === claims['jti']));
      const wrong = await oidc.discovery(
        new URL(f.issuer),
        svc.body.clientId,
        {},
        oidc.ClientSecretBasic(`${svc.body.clientSecret}x`),
        customFetchFor(f),
      );
      await assert.rejects(
        oidc.clientCredentialsGrant(wrong, {}),
        (err: { error?: string; cause?: { parameters?: { error?: string } }[] }) =>
          (err.error ?? err.cause?.[0]?.parameters?.error) === 'invalid_client',
      );
    });

    it('authenticates service accounts with private_key_jwt and refuses assertions signed by another key', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig', kid: 'svc-1' };
      const created = await f.api<{ clientId: string; clientSecret?: string }>(
        'POST',
        '/admin/clients',
        { name: 'signer', kind: 'service', jwks: { keys: [jwk] } },
        admin,
      );
      assert.equal(created.status, 201);
      assert.equal(created.body.clientSecret, undefined, 'no secret for a key-authenticated client');
      const signer = await oidc.discovery(
        new URL(f.issuer),
        created.body.clientId,
        {},
        oidc.PrivateKeyJwt({ key: privateKey, kid: 'svc-1' }),
        customFetchFor(f),
      );
      const token = await oidc.clientCredentialsGrant(signer, {});
      assert.equal(claimsOf(token.access_token)['client_id'], created.body.clientId);
      const other = await generateKeyPair('ES256');
      const forger = await oidc.discovery(
        new URL(f.issuer),
        created.body.clientId,
        {},
        oidc.PrivateKeyJwt({ key: other.privateKey, kid: 'svc-1' }),
        customFetchFor(f),
      );
      await assert.rejects(oidc.clientCredentialsGrant(forger, {}));
    });

    it('makes an admin enrol TOTP on first sign-in and reports acr/amr for the second factor', async () => {
      await createUser(f, admin, { username: `carol-${engine}`, roles: ['admin'] });
      const browser = newBrowser(f);
      const start = await startAuthorization(rp);
      const enrolment = await enrolTotp(browser, await submitPassword(browser, start.url, `carol-${engine}`));
      assert.equal(enrolment.recoveryCodes.length, 10);
      const tokens = await callback(rp, await consent(browser, enrolment.next), start);
      assert.equal(tokens.claims()!.acr, ACR_MFA);
      assert.deepEqual(claimsOf(tokens.access_token)['amr'], ['pwd', 'otp', 'mfa']);
      assert.deepEqual(claimsOf(tokens.access_token)['roles'], ['admin']);
      assert.ok(f.audit.events.some((e) => e.action === 'identity.mfa.enrol' && e.outcome === 'success'));
    });

    it('ends the session through RP-initiated logout and asks for the password again afterwards', async () => {
      await createUser(f, admin, { username: `dave-${engine}` });
      const browser = newBrowser(f);
      const start = await startAuthorization(rp);
      const tokens = await callback(
        rp,
        await consent(browser, await submitPassword(browser, start.url, `dave-${engine}`)),
        start,
      );
      const logoutUrl = oidc.buildEndSessionUrl(rp, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: POST_LOGOUT_URI,
        state: 'bye',
      });
      const confirm = await browser.follow(await browser.get(logoutUrl.href));
      assert.match(confirm.body, /Sign out/);
      assert.equal(confirm.headers['x-frame-options'], 'DENY');
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)?.[1];
      assert.ok(xsrf);
      const action = /action="([^"]+)"/.exec(confirm.body)![1]!;
      const done = await browser.follow(
        await browser.post(new URL(action, f.url).href, { xsrf, logout: 'yes' }),
      );
      assert.ok(done.location?.startsWith(POST_LOGOUT_URI), `redirected to ${done.location}`);
      const again = await browser.follow(await browser.get((await startAuthorization(rp)).url.href));
      assert.match(again.body, /name="password"/, 'the next authorization needs the password again');
      assert.ok(f.audit.events.some((e) => e.action === 'identity.logout'));
      void csrfOf;
    });
  });
}
