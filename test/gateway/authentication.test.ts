/**
 * Issue 7, "JWT" attacks and identity propagation: every token below is forged, stale or misused and must
 * be refused with 401; the upstream never sees the caller's token, only the gateway's signed assertion.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { request } from 'undici';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { issuerConfig, startGateway, type TestGateway, tempHome } from './fixtures/harness.ts';
import { startIssuer, type TestIssuer } from './fixtures/issuer.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;
const API_KEY = 'bwk_test_key_0123456789abcdef';

const routes = (target: string): RouteDocument => ({
  format_version: '1',
  services: [
    { name: 'orders', targets: [target] },
    { name: 'payments', targets: [target] },
  ],
  routes: [
    { name: 'orders', service: 'orders', paths: ['/orders'], auth: { audience: 'orders' } },
    { name: 'payments', service: 'payments', paths: ['/payments'], auth: { audience: 'payments' } },
    { name: 'any', service: 'orders', paths: ['/any'], auth: { apiKeys: true } },
  ],
  consumers: [
    {
      name: 'batch',
      apiKeyHash: `sha256:${createHash('sha256').update(API_KEY).digest('hex')}`,
      subject: 'svc-batch',
      roles: ['batch'],
      tenant: 't1',
    },
  ],
});

before(async () => {
  issuer = await startIssuer(tempHome());
  upstream = await startUpstream();
  gw = await startGateway(routes(upstream.url), {
    issuers: [issuerConfig(issuer.issuer)],
    jwksDispatcher: issuer.dispatcher,
  });
});

after(async () => {
  await gw.close();
  await upstream.close();
  await issuer.close();
});

async function call(path: string, token: string | undefined, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}${path}`, {
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
  const body = await res.body.text();
  const denial = res.statusCode >= 400 ? gw.audit.events.at(-1)?.reason : undefined;
  return { status: res.statusCode, body, headers: res.headers, reason: denial };
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const claims = () => ({ iss: issuer.issuer, sub: 'alice', aud: 'orders', exp: now() + 300, iat: now() });

describe('JWT attacks are refused', () => {
  test('a valid access token passes (the control for the attacks below)', async () => {
    const r = await call('/orders', await issuer.sign({ aud: 'orders' }));
    assert.equal(r.status, 200, r.body);
  });

  test('alg none is refused', async () => {
    const token = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims())}.`;
    const r = await call('/orders', token);
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'alg_not_allowed');
  });

  test('RS256/ES256 to HS256 confusion with the public key as HMAC secret is refused', async () => {
    const pem = createPublicKey({ key: issuer.publicJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(issuer.publicJwk))]) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' })
        .sign(secret);
      const r = await call('/orders', token);
      assert.equal(r.status, 401);
      assert.equal(r.reason, 'alg_not_allowed');
    }
  });

  test('an embedded JWK, jku, x5u or x5c header is refused even when the signature matches that key', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    for (const header of [
      { jwk },
      { jku: `${issuer.issuer}/jwks` },
      { x5u: 'https://evil.example/x.pem' },
      { x5c: ['MIIB'] },
    ]) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header })
        .sign(attacker.privateKey);
      const r = await call('/orders', token);
      assert.equal(r.status, 401, JSON.stringify(Object.keys(header)));
      assert.equal(r.reason, 'forbidden_header');
    }
  });

  test('kid injection finds no key, and unknown kids do not make the gateway hammer the JWKS', async () => {
    const attacker = await generateKeyPair('ES256');
    const before = issuer.jwksHits;
    for (const kid of ['../../../../dev/null', "' OR '1'='1", 'k1\u0000', 'k2', '']) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
        .sign(attacker.privateKey);
      const r = await call('/orders', token);
      assert.equal(r.status, 401, kid);
      assert.equal(r.reason, 'unknown_key', kid);
    }
    // One refresh at most per cooldown (30 s), whatever the number of unknown kids.
    assert.ok(issuer.jwksHits - before <= 1, `JWKS fetched ${issuer.jwksHits - before} times`);
  });

  test('a token signed by another key under the issuer kid is refused', async () => {
    const attacker = await generateKeyPair('ES256');
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
      .sign(attacker.privateKey);
    const r = await call('/orders', token);
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'bad_signature');
  });

  test('null and all-zero ECDSA signatures are refused (CVE-2022-21449 "psychic signatures")', async () => {
    const head = `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })}.${b64(claims())}`;
    for (const sig of ['', Buffer.alloc(64).toString('base64url'), 'AA']) {
      const r = await call('/orders', `${head}.${sig}`);
      assert.equal(r.status, 401, `sig ${sig}`);
      assert.ok(r.reason === 'bad_signature' || r.reason === 'malformed', r.reason);
    }
  });

  test('expired, not-yet-valid, wrong audience and unknown issuer tokens are refused', async () => {
    const cases: [string, string][] = [
      [await issuer.sign({ aud: 'orders', exp: now() - 120 }), 'expired'],
      [await issuer.sign({ aud: 'orders', nbf: now() + 120 }), 'not_yet_valid'],
      [await issuer.sign({ aud: 'somebody-else' }), 'wrong_audience'],
      [await issuer.sign({ aud: 'orders', iss: 'https://evil.example' }), 'unknown_issuer'],
    ];
    for (const [token, reason] of cases) {
      const r = await call('/orders', token);
      assert.equal(r.status, 401);
      assert.equal(r.reason, reason);
    }
  });

  test('a signed subject that is not a non-empty string is refused, not turned into "[object Object]"', async () => {
    for (const sub of [{ id: 'alice' }, ['alice', 'bob'], 42, '']) {
      const r = await call('/orders', await issuer.sign({ aud: 'orders', sub } as never));
      assert.equal(r.status, 401, JSON.stringify(sub));
      assert.equal(r.reason, 'invalid');
    }
  });

  test('clock skew is bounded: 10 s past exp passes, 120 s does not', async () => {
    assert.equal((await call('/orders', await issuer.sign({ aud: 'orders', exp: now() - 10 }))).status, 200);
    assert.equal((await call('/orders', await issuer.sign({ aud: 'orders', exp: now() - 120 }))).status, 401);
  });

  test('an ID token (typ JWT) is not accepted as an access token', async () => {
    const token = await issuer.sign({ aud: 'orders', nonce: 'n' }, { typ: 'JWT' });
    const r = await call('/orders', token);
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'wrong_type');
  });

  test('a token for service A replayed at service B is refused', async () => {
    const token = await issuer.sign({ aud: 'orders' });
    assert.equal((await call('/orders', token)).status, 200);
    const r = await call('/payments', token);
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'wrong_audience');
  });

  test('a missing or malformed Authorization header is refused with a Bearer challenge', async () => {
    const missing = await call('/orders', undefined);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    const basic = await call('/orders', undefined, { authorization: 'Basic YTpi' });
    assert.equal(basic.status, 401);
  });

  test('a revoked token is refused at once, also when it sits in the verified-token cache', async () => {
    const token = await issuer.sign({ aud: 'orders', jti: 'jti-revoke-me' });
    assert.equal((await call('/orders', token)).status, 200);
    gw.gateway.runtime.revocations.revoke('jti-revoke-me', Date.now() + 300_000);
    const r = await call('/orders', token);
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'revoked');
  });

  test('a key rotated in at the issuer is picked up by the refresh on unknown kid', async () => {
    const fresh = await startGateway(routes(upstream.url), {
      issuers: [issuerConfig(issuer.issuer)],
      jwksDispatcher: issuer.dispatcher,
      jwksCooldownMs: 0,
    });
    try {
      assert.equal(
        (
          await (
            await request(`${fresh.url}/orders`, {
              headers: { authorization: `Bearer ${await issuer.sign({ aud: 'orders' })}` },
            })
          ).body.text()
        ).includes('ok'),
        true,
      );
      const rotated = await generateKeyPair('ES256', { extractable: true });
      issuer.extraKeys.push({ ...(await exportJWK(rotated.publicKey)), kid: 'k2', alg: 'ES256' });
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k2' })
        .sign(rotated.privateKey);
      const res = await request(`${fresh.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
    } finally {
      issuer.extraKeys.length = 0;
      await fresh.close();
    }
  });
});

describe('API keys', () => {
  test('a known API key authenticates (only its hash is configured); an unknown one is refused', async () => {
    upstream.received.length = 0;
    const ok = await call('/any', undefined, { 'x-api-key': API_KEY });
    assert.equal(ok.status, 200);
    assert.equal(upstream.received[0]?.headers['x-bulwark-subject'], 'svc-batch');
    assert.equal(upstream.received[0]?.headers['x-api-key'], undefined);
    assert.equal((await call('/any', undefined, { 'x-api-key': `${API_KEY}x` })).status, 401);
    // Keys are refused on routes that do not allow them.
    assert.equal((await call('/orders', undefined, { 'x-api-key': API_KEY })).status, 401);
  });
});

describe('identity propagation', () => {
  test('the upstream gets a verifiable gateway assertion, never the caller token, and no spoofed identity', async () => {
    upstream.received.length = 0;
    const token = await issuer.sign({ aud: 'orders', roles: ['clerk'], tenant: 'acme' });
    const r = await call('/orders', token, {
      'x-bulwark-subject': 'root',
      'x-bulwark-roles': 'admin',
      'x-bulwark-identity': 'forged',
      connection: 'x-bulwark-identity',
    });
    assert.equal(r.status, 200);
    const seen = upstream.received[0]!.headers;
    assert.equal(seen['authorization'], undefined);
    assert.equal(seen['x-bulwark-subject'], 'alice');
    assert.equal(seen['x-bulwark-roles'], 'clerk');
    assert.equal(seen['x-bulwark-tenant'], 'acme');
    const jwks = createLocalJWKSet(gw.gateway.runtime.signer.jwks() as never);
    const { payload, protectedHeader } = await jwtVerify(seen['x-bulwark-identity'] as string, jwks, {
      issuer: 'bulwark-gateway',
      audience: 'orders',
    });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload['roles'], ['clerk']);
    assert.equal(payload['tenant'], 'acme');
    assert.ok((payload.exp as number) - (payload.iat as number) <= 60);
  });

  test('claims that are not plain header text reach the upstream percent-encoded: no extra role, no 502, no open circuit', async () => {
    // A subject in Chinese could not be written as a header at all: undici refused it, the caller got
    // 502 and the failure was counted against the upstream, so a few requests opened the service's
    // circuit for every caller. A role holding a comma read as two roles ("viewer" and "admin").
    const token = await issuer.sign({
      aud: 'orders',
      sub: '用户 1',
      roles: ['viewer,admin', 'clerk'],
      tenant: 'acme%2Cx',
    });
    for (let i = 0; i < 6; i++) {
      upstream.received.length = 0;
      const r = await call('/orders', token);
      assert.equal(r.status, 200, r.body);
    }
    const seen = upstream.received[0]!.headers;
    assert.equal(seen['x-bulwark-subject'], '%E7%94%A8%E6%88%B7%201');
    assert.equal(decodeURIComponent(seen['x-bulwark-subject'] as string), '用户 1');
    assert.deepEqual(String(seen['x-bulwark-roles']).split(',').map(decodeURIComponent), [
      'viewer,admin',
      'clerk',
    ]);
    assert.equal(decodeURIComponent(seen['x-bulwark-tenant'] as string), 'acme%2Cx');
    // The others are still served.
    assert.equal((await call('/orders', await issuer.sign({ aud: 'orders' }))).status, 200);
  });
});
