/**
 * The revocation feed from the failure side, against a plain HTTP stand-in for identity on loopback: a
 * feed that hangs must be reported (not leave the poller stuck, silently, with revoked tokens accepted),
 * and a malformed entry must neither un-revoke a token nor wedge the `since` cursor.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { ManualClock } from '../../src/core/index.ts';
import { RevocationList } from '../../src/gateway/auth/revocation-list.ts';
import { RevocationFeed } from '../../src/gateway/index.ts';
import { GatewayMetrics } from '../../src/gateway/observability/metrics.ts';
import { dripForever } from './fixtures/drip.ts';

const state = {
  drip: false,
  entries: [] as Record<string, unknown>[],
  sinces: [] as string[],
};
let server: http.Server;
let url = '';
const credentials = { clientId: 'gw', clientSecret: 's', resource: 'r', scope: 's' };

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/oidc/token') {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'feed-token', expires_in: 3600 }));
      return;
    }
    state.sinces.push(new URL(req.url ?? '', 'http://x').searchParams.get('since') ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    if (state.drip) {
      dripForever(res, '{"revocations":[');
      return;
    }
    res.end(JSON.stringify({ revocations: state.entries }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  state.drip = false;
  state.entries = [];
  state.sinces = [];
});

test('a feed answer that trickles in forever fails the poll (reported), it does not wedge the poller', async () => {
  const clock = new ManualClock(Date.now());
  const errors: unknown[] = [];
  const feed = new RevocationFeed({
    url,
    credentials,
    list: new RevocationList(clock),
    clock,
    timeoutMs: 300,
    onError: (e) => errors.push(e),
  });
  state.drip = true;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    feed.poll().then((n) => `applied ${n}`),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('hung'), 3_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, 'applied 0');
  assert.equal(errors.length, 1);
});

test('a malformed feed entry neither lifts a revocation nor poisons the since cursor', async () => {
  const clock = new ManualClock(Date.now());
  const list = new RevocationList(clock);
  const errors: unknown[] = [];
  const feed = new RevocationFeed({ url, credentials, list, clock, onError: (e) => errors.push(e) });
  const now = clock.now();
  state.entries = [{ kind: 'jti', value: 'j1', expiresAt: now + 600_000, revokedAt: now }];
  assert.equal(await feed.poll(), 1);
  assert.equal(list.isRevoked('j1'), true);
  // The same jti again, with numbers that are not numbers (a bug or a version skew at identity).
  state.entries = [{ kind: 'jti', value: 'j1', expiresAt: 'later', revokedAt: null }];
  await feed.poll();
  assert.equal(list.isRevoked('j1'), true, 'still revoked');
  state.entries = [{ kind: 'jti', value: 'j2', expiresAt: now + 600_000 }];
  await feed.poll();
  state.entries = [];
  await feed.poll();
  assert.ok(
    state.sinces.every((s) => /^\d+$/.test(s)),
    `since stayed a number: ${state.sinces.join(',')}`,
  );
  assert.ok(errors.length >= 1, 'the malformed entries were reported');
});

test('how stale the feed is, for alerts: growing while identity cannot answer, back to 0 when it does', async () => {
  const clock = new ManualClock(Date.now());
  const metrics = new GatewayMetrics();
  const feed = new RevocationFeed({
    url,
    credentials,
    list: new RevocationList(clock),
    clock,
    timeoutMs: 200,
    onError: () => undefined,
  });
  // Without a feed there is no such metric (a 0 would read as "fresh").
  assert.ok(!(await metrics.registry.metrics()).includes('revocation_feed_stale'));
  metrics.watchRevocationFeed(() => feed.staleSeconds());
  const gauge = async () => {
    const text = await metrics.registry.metrics();
    return Number(/^bulwark_gateway_revocation_feed_stale_seconds (\S+)$/m.exec(text)?.[1]);
  };
  assert.equal(await feed.poll(), 0);
  assert.equal(await gauge(), 0);
  state.drip = true; // identity stops answering
  clock.advance(30_000);
  await feed.poll();
  assert.equal(await gauge(), 30, 'stale since the last answer');
  state.drip = false;
  await feed.poll();
  assert.equal(await gauge(), 0);
});
