/**
 * The JWKS cache from the failure side: an issuer whose JWKS endpoint goes down or hangs must neither be
 * hammered by every request nor hold requests (all of them share the in-flight refresh) without bound.
 * Plain HTTP on loopback: the cache takes whatever URL it is given; TLS is the dispatcher's business.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { ManualClock } from '../../src/core/index.ts';
import { JwksCache } from '../../src/gateway/auth/jwks-cache.ts';
import { dripForever } from './fixtures/drip.ts';

type Mode = 'ok' | 'down' | 'drip';
const state = { mode: 'ok' as Mode, hits: 0, keys: undefined as JWK[] | undefined };
let jwk: JWK;
let server: http.Server;
let url = '';

before(async () => {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  server = http.createServer((_req, res) => {
    state.hits++;
    if (state.mode === 'down') {
      res.writeHead(503).end();
      return;
    }
    if (state.mode === 'drip') {
      res.writeHead(200, { 'content-type': 'application/json' });
      dripForever(res, '{"keys":[');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys ?? [jwk] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  state.mode = 'ok';
  state.hits = 0;
  state.keys = undefined;
});

test('an issuer whose JWKS endpoint is down is asked at most once per cooldown, and the old keys keep working', async () => {
  const clock = new ManualClock();
  const cache = new JwksCache({ issuer: 'https://issuer.test', jwksUri: url, clock, cooldownMs: 30_000 });
  await cache.key({ alg: 'ES256', kid: 'k1' });
  assert.equal(state.hits, 1);
  state.mode = 'down';
  clock.advance(600_001); // past maxAge: the set is due for a re-read, which fails
  for (let i = 0; i < 20; i++) await cache.key({ alg: 'ES256', kid: 'k1' });
  assert.equal(state.hits, 2, 'one failed re-read per cooldown, not one per request');
  clock.advance(30_000);
  await cache.key({ alg: 'ES256', kid: 'k1' });
  assert.equal(state.hits, 3, 'retried once the cooldown has passed');
});

test('a JWKS answer that trickles in forever is given up after the timeout, not waited on', async () => {
  const clock = new ManualClock();
  const cache = new JwksCache({ issuer: 'https://issuer.test', jwksUri: url, clock, timeoutMs: 300 });
  await cache.key({ alg: 'ES256', kid: 'k1' });
  state.mode = 'drip';
  clock.advance(600_001);
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    cache.key({ alg: 'ES256', kid: 'k1' }).then(
      () => 'settled',
      () => 'settled',
    ),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('hung'), 3_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, 'settled');
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
});

test('among keys sharing a kid, the one usable with the token alg is picked; keys not for verifying are not', async () => {
  const rsa = await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey);
  // An RSA key published without alg, then the EC key, both under kid k1 (a rotation that reused the kid),
  // a symmetric key and a key whose key_ops say it is not for verifying.
  state.keys = [
    { ...rsa, kid: 'k1', use: 'sig' },
    { kty: 'oct', k: 'c2VjcmV0', kid: 'k2' },
    { ...jwk, kid: 'k3', key_ops: ['encrypt'] },
    jwk,
  ];
  const cache = new JwksCache({ issuer: 'https://issuer.test', jwksUri: url, clock: new ManualClock() });
  const key = await cache.key({ alg: 'ES256', kid: 'k1' });
  assert.equal((key as { type?: string }).type, 'public');
  await assert.rejects(cache.key({ alg: 'ES256', kid: 'k2' }), { code: 'unknown_key' });
  await assert.rejects(cache.key({ alg: 'ES256', kid: 'k3' }), { code: 'unknown_key' });
});
