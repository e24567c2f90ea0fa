/**
 * Revocation within seconds (issue 7, "Authentication"): pushed to the admin API (component.test.ts) or
 * polled from identity's feed. The feed server here speaks identity's contract (client-credentials token
 * at `/oidc/token`, `GET /revocations?since=`), over HTTPS from core's local CA.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { localServerCredentials, systemClock } from '../../src/core/index.ts';
import { RevocationFeed } from '../../src/gateway/index.ts';
import { issuerConfig, simpleRoutes, startGateway, type TestGateway, tempHome } from './fixtures/harness.ts';
import { startIssuer, type TestIssuer } from './fixtures/issuer.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;
let feedServer: https.Server;
let feedUrl: string;
let dispatcher: Agent;
const entries: {
  kind: 'jti' | 'grant';
  value: string;
  expiresAt: number;
  revokedAt: number;
  reason: string;
}[] = [];
const seen = { tokens: 0, sinces: [] as string[], unauthorized: 0 };

before(async () => {
  const home = tempHome();
  issuer = await startIssuer(home);
  upstream = await startUpstream();
  gw = await startGateway(simpleRoutes(upstream.url, [{ name: 'r', service: 'svc', paths: ['/x'] }]), {
    issuers: [issuerConfig(issuer.issuer)],
    jwksDispatcher: issuer.dispatcher,
  });
  const creds = await localServerCredentials(home, 'feed');
  dispatcher = new Agent({ connect: { ca: creds.ca } });
  feedServer = https.createServer({ cert: creds.cert, key: creds.key }, (req, res) => {
    if (req.url === '/oidc/token' && req.method === 'POST') {
      const basic = Buffer.from(
        (req.headers.authorization ?? '').replace(/^Basic /, ''),
        'base64',
      ).toString();
      if (basic !== 'gateway-feed:s3cret') {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      seen.tokens++;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"access_token":"feed-token","expires_in":600}');
      return;
    }
    if (req.url?.startsWith('/revocations')) {
      if (req.headers.authorization !== 'Bearer feed-token') {
        seen.unauthorized++;
        res.writeHead(401).end();
        return;
      }
      const since = Number(new URL(req.url, 'https://x').searchParams.get('since') ?? 0);
      seen.sinces.push(String(since));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ revocations: entries.filter((e) => e.revokedAt >= since) }));
      return;
    }
    res.writeHead(404).end();
  });
  feedServer.listen(0, '127.0.0.1');
  await once(feedServer, 'listening');
  feedUrl = `https://127.0.0.1:${(feedServer.address() as AddressInfo).port}`;
});

after(async () => {
  await gw.close();
  await upstream.close();
  await issuer.close();
  await dispatcher.close();
  feedServer.closeAllConnections();
  feedServer.close();
});

async function status(token: string): Promise<number> {
  const res = await request(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });
  await res.body.dump();
  return res.statusCode;
}

describe('revocation feed', () => {
  test('revoked token ids and grants polled from the feed are refused, cached tokens included', async () => {
    const byJti = await issuer.sign({ jti: 'feed-jti-1', gid: 'g-other' });
    const byGrant = await issuer.sign({ jti: 'feed-jti-2', gid: 'g-revoked' });
    const untouched = await issuer.sign({ jti: 'feed-jti-3', gid: 'g-fine' });
    for (const t of [byJti, byGrant, untouched]) assert.equal(await status(t), 200);
    const feed = new RevocationFeed({
      url: feedUrl,
      credentials: {
        clientId: 'gateway-feed',
        clientSecret: 's3cret',
        resource: 'urn:bulwark:identity',
        scope: 'identity:admin',
      },
      list: gw.gateway.runtime.revocations,
      clock: systemClock,
      dispatcher,
    });
    const now = Date.now();
    entries.push(
      { kind: 'jti', value: 'feed-jti-1', expiresAt: now + 600_000, revokedAt: now, reason: 'logout' },
      {
        kind: 'grant',
        value: 'g-revoked',
        expiresAt: now + 600_000,
        revokedAt: now + 1,
        reason: 'refresh reuse',
      },
    );
    assert.equal(await feed.poll(), 2);
    assert.equal(await status(byJti), 401);
    assert.equal(await status(byGrant), 401);
    assert.equal(await status(untouched), 200);
    // The next poll asks only for what is new, with the cached access token.
    await feed.poll();
    assert.deepEqual(seen.sinces, ['0', String(now + 1)]);
    assert.equal(seen.tokens, 1);
  });

  test('wrong client credentials fail the poll without touching the list', async () => {
    const errors: unknown[] = [];
    const before = gw.gateway.runtime.revocations.size;
    const feed = new RevocationFeed({
      url: feedUrl,
      credentials: { clientId: 'gateway-feed', clientSecret: 'wrong', resource: 'r', scope: 's' },
      list: gw.gateway.runtime.revocations,
      clock: systemClock,
      dispatcher,
      onError: (e) => errors.push(e),
    });
    assert.equal(await feed.poll(), 0);
    assert.equal(errors.length, 1);
    assert.equal(gw.gateway.runtime.revocations.size, before);
  });
});
