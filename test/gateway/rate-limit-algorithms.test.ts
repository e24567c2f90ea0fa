/**
 * Issue 7, item 4: the rate-limit algorithms. A fixed window lets a client spend its budget twice across a
 * window boundary; the sliding window must not. The token bucket refills at its rate up to its capacity
 * (an injected clock moves time). On Redis, concurrent bursts through two gateways never exceed the limit
 * for any algorithm, and fail-open/closed still applies.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { ManualClock } from '../../src/core/index.ts';
import { MemoryLimitStore } from '../../src/gateway/limits/memory-store.ts';
import type { RateLimitSpec } from '../../src/gateway/routes/route-file.ts';
import { simpleRoutes, startGateway } from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let upstream: TestUpstream;
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  upstream = await startUpstream();
  closers.push(() => upstream.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function get(url: string) {
  const res = await request(url);
  await res.body.dump();
  return res;
}

async function gatewayWith(rule: RateLimitSpec, clock?: ManualClock) {
  const gw = await startGateway(
    simpleRoutes(upstream.url, [
      { name: 'r', service: 'svc', paths: ['/x'], auth: { required: false }, rateLimits: [rule] },
    ]),
    clock ? { clock } : {},
  );
  closers.push(gw.close);
  return gw;
}

async function burst(url: string, n: number): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < n; i++) codes.push((await get(url)).statusCode);
  return codes;
}

const ok = (codes: number[]) => codes.filter((c) => c === 200).length;

describe('window boundary bursts', () => {
  // Ten at the end of one window, ten more 1.1 s later at the start of the next.
  async function boundaryBurst(algorithm: RateLimitSpec['algorithm']): Promise<number> {
    const clock = new ManualClock(); // starts on a minute boundary
    const gw = await gatewayWith({ by: 'ip', points: 10, durationSeconds: 60, algorithm }, clock);
    let allowed = ok(await burst(`${gw.url}/x`, 1));
    clock.advance(59_000);
    allowed += ok(await burst(`${gw.url}/x`, 9));
    clock.advance(1_100);
    return allowed + ok(await burst(`${gw.url}/x`, 10));
  }

  test('a fixed window lets twice the limit through across the boundary (the weakness)', async () => {
    assert.equal(await boundaryBurst('fixed-window'), 20);
  });

  test('a sliding window holds the limit across the boundary', async () => {
    assert.equal(await boundaryBurst('sliding-window'), 10);
  });

  test('a sliding window 429 names a Retry-After that lets the obedient client in, and not earlier', async () => {
    const clock = new ManualClock();
    const gw = await gatewayWith(
      { by: 'ip', points: 10, durationSeconds: 60, algorithm: 'sliding-window' },
      clock,
    );
    clock.advance(50_000);
    assert.equal(ok(await burst(`${gw.url}/x`, 10)), 10);
    clock.advance(11_000); // next window, f = 1/60: the previous ten still weigh ~9.8
    const limited = await get(`${gw.url}/x`);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.headers['ratelimit-limit'], '10');
    assert.equal(limited.headers['ratelimit-remaining'], '0');
    // One slot frees when the weight falls to 9: f = 0.1, i.e. 6 s into the window, 5 s from now.
    assert.equal(limited.headers['retry-after'], '5');
    assert.equal(limited.headers['ratelimit-reset'], '5');
    clock.advance(4_000);
    assert.equal((await get(`${gw.url}/x`)).statusCode, 429);
    clock.advance(1_000);
    assert.equal((await get(`${gw.url}/x`)).statusCode, 200);
    assert.equal((await get(`${gw.url}/x`)).statusCode, 429);
  });
});

describe('token bucket', () => {
  test('the bucket allows a burst of its capacity, then refills at its rate and never beyond capacity', async () => {
    const clock = new ManualClock();
    // Capacity 5, refill 1 token every 2 s.
    const gw = await gatewayWith(
      { by: 'ip', points: 1, durationSeconds: 2, algorithm: 'token-bucket', capacity: 5 },
      clock,
    );
    const first = await get(`${gw.url}/x`);
    assert.equal(first.headers['ratelimit-limit'], '5');
    assert.equal(first.headers['ratelimit-remaining'], '4');
    assert.equal(first.headers['ratelimit-reset'], '2'); // one token to refill
    assert.deepEqual(await burst(`${gw.url}/x`, 5), [200, 200, 200, 200, 429]);
    const limited = await get(`${gw.url}/x`);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.headers['retry-after'], '2');
    clock.advance(1_000);
    const half = await get(`${gw.url}/x`);
    assert.equal(half.statusCode, 429, 'half a token is not a token');
    assert.equal(half.headers['retry-after'], '1');
    clock.advance(1_000);
    assert.deepEqual(await burst(`${gw.url}/x`, 2), [200, 429]);
    // A long idle period fills the bucket to its capacity, not beyond.
    clock.advance(3_600_000);
    assert.deepEqual(await burst(`${gw.url}/x`, 6), [200, 200, 200, 200, 200, 429]);
  });

  test('without a capacity the bucket holds `points` tokens', async () => {
    const clock = new ManualClock();
    const gw = await gatewayWith(
      { by: 'ip', points: 3, durationSeconds: 60, algorithm: 'token-bucket' },
      clock,
    );
    assert.deepEqual(await burst(`${gw.url}/x`, 4), [200, 200, 200, 429]);
    clock.advance(20_000); // 3 per 60 s: one token
    assert.deepEqual(await burst(`${gw.url}/x`, 2), [200, 429]);
  });
});

describe('memory store', () => {
  test('a flood of one-off keys does not grow the memory store without bound', () => {
    const clock = new ManualClock();
    for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
      const store = new MemoryLimitStore(algorithm, { points: 5, durationMs: 1000, capacity: 5 }, clock);
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 3000; i++) store.consume(`ip:${round}:${i}`);
        clock.advance(3000); // every key of this round has expired
      }
      assert.ok(store.size <= 6000, `${algorithm}: ${store.size} keys kept`);
    }
  });

  test('within one window the store keeps at most its cap, and a flood of new keys does not reset a busy one', () => {
    const clock = new ManualClock();
    for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
      const store = new MemoryLimitStore(
        algorithm,
        { points: 5, durationMs: 60_000, capacity: 5 },
        clock,
        1000,
      );
      // The attacker spends its budget, then floods new keys (all live: same window) hoping to evict it.
      for (let i = 0; i < 5; i++) assert.equal(store.consume('ip:attacker').allowed, true, algorithm);
      for (let i = 0; i < 20_000; i++) {
        store.consume(`h:${i}`);
        if (i % 100 === 0) assert.equal(store.consume('ip:attacker').allowed, false, `${algorithm} at ${i}`);
      }
      assert.ok(store.size <= 1000, `${algorithm}: ${store.size} keys kept`);
    }
  });
});

async function redisClient(port = 6379): Promise<Redis> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `Redis is not reachable at 127.0.0.1:${port} (start it for these tests): ${(err as Error).message}`,
    );
  }
  return client;
}

describe('shared limits on Redis', () => {
  for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
    test(`concurrent bursts through two gateways never exceed a ${algorithm} limit`, async () => {
      const prefix = `bulwark:test:${randomUUID()}`;
      const redisA = await redisClient();
      const redisB = await redisClient();
      closers.push(
        () => redisA.quit(),
        () => redisB.quit(),
      );
      // An hour-long period: refill and window turnover during the test are negligible.
      const doc = simpleRoutes(upstream.url, [
        {
          name: 'r',
          service: 'svc',
          paths: ['/x'],
          auth: { required: false },
          rateLimits: [{ by: 'route', points: 40, durationSeconds: 3600, store: 'redis', algorithm }],
        },
      ]);
      const a = await startGateway(doc, { redis: redisA, rateLimitPrefix: prefix });
      const b = await startGateway(doc, { redis: redisB, rateLimitPrefix: prefix });
      closers.push(a.close, b.close);
      const responses = await Promise.all(
        Array.from({ length: 160 }, (_, i) => get(`${i % 2 ? a.url : b.url}/x`)),
      );
      const allowed = responses.filter((r) => r.statusCode === 200).length;
      assert.ok(allowed <= 40, `${allowed} requests got through a limit of 40`);
      // A window turning over mid-test may cost one slot of the weighted estimate, never add one.
      assert.ok(allowed >= (algorithm === 'sliding-window' ? 39 : 40), `only ${allowed} allowed`);
      const limited = responses.filter((r) => r.statusCode === 429);
      assert.equal(limited.length, 160 - allowed);
      for (const r of limited) {
        assert.ok(Number(r.headers['retry-after']) >= 1);
        assert.equal(r.headers['ratelimit-limit'], '40');
        assert.equal(r.headers['ratelimit-remaining'], '0');
      }
      await redisA.del(...(await redisA.keys(`${prefix}:*`)));
    });
  }

  test('with Redis down, sliding-window and token-bucket rules keep their fail-open / fail-closed choice', async () => {
    const dead = new Redis({
      host: '127.0.0.1',
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    dead.on('error', () => undefined);
    dead.connect().catch(() => undefined);
    closers.push(async () => dead.disconnect());
    const routes = (['sliding-window', 'token-bucket'] as const).flatMap((algorithm) =>
      [true, false].map((failOpen) => ({
        name: `${algorithm}-${failOpen}`,
        service: 'svc',
        paths: [`/${algorithm}/${failOpen ? 'open' : 'closed'}`],
        auth: { required: false as const },
        rateLimits: [
          { by: 'ip' as const, points: 5, durationSeconds: 60, store: 'redis' as const, algorithm, failOpen },
        ],
      })),
    );
    const gw = await startGateway(simpleRoutes(upstream.url, routes), { redis: dead });
    closers.push(gw.close);
    for (const algorithm of ['sliding-window', 'token-bucket']) {
      assert.equal((await get(`${gw.url}/${algorithm}/open`)).statusCode, 200, algorithm);
      assert.equal((await get(`${gw.url}/${algorithm}/closed`)).statusCode, 503, algorithm);
    }
  });
});
