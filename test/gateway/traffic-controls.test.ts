/**
 * Issue 7, "Limits": rate limits in memory and in Redis (concurrent bursts from two gateways never exceed
 * the limit), fail-open/closed, concurrency limits, spoofed X-Forwarded-For against a per-IP limit,
 * slowloris and oversized bodies.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer as createNetServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { systemClock } from '../../src/core/index.ts';
import { type LimitCounters, LocalCounters } from '../../src/gateway/limits/counters.ts';
import type { RateLimitSpec, RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { rawRequest, simpleRoutes, slowloris, startGateway, statusOf } from './fixtures/harness.ts';
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

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  await res.body.dump();
  return res;
}

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

/** One route, /x, open to all, with `rateLimits`. */
const limitedRoute = (rateLimits: RateLimitSpec[]): RouteDocument =>
  simpleRoutes(upstream.url, [
    { name: 'r', service: 'svc', paths: ['/x'], auth: { required: false }, rateLimits },
  ]);

/** In-process counters that also record every key a limit is counted under. */
function recordingCounters(): { counters: LimitCounters; keys: string[] } {
  const local = new LocalCounters(systemClock);
  const keys: string[] = [];
  const counters: LimitCounters = {
    consume: (rule, key) => {
      keys.push(key);
      return local.consume(rule, key);
    },
    acquire: (route, max) => local.acquire(route, max),
    release: (route) => local.release(route),
  };
  return { counters, keys };
}

describe('rate limits', () => {
  test('the per-IP limit answers 429 with Retry-After and RateLimit-* once spent', async () => {
    const gw = await startGateway(limitedRoute([{ by: 'ip', points: 3, durationSeconds: 60 }]));
    closers.push(gw.close);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await get(`${gw.url}/x`);
      assert.equal(res.statusCode, 200);
      remaining.push(String(res.headers['ratelimit-remaining']));
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    const limited = await get(`${gw.url}/x`);
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal(limited.headers['ratelimit-limit'], '3');
    assert.equal(limited.headers['ratelimit-remaining'], '0');
  });

  test('a spoofed X-Forwarded-For does not buy a fresh per-IP budget', async () => {
    const gw = await startGateway(limitedRoute([{ by: 'ip', points: 2, durationSeconds: 60 }]), {
      trustedProxies: ['10.0.0.5'],
    });
    closers.push(gw.close);
    const codes = [];
    for (let i = 0; i < 5; i++)
      codes.push((await get(`${gw.url}/x`, { 'x-forwarded-for': `198.51.100.${i}` })).statusCode);
    assert.deepEqual(codes, [200, 200, 429, 429, 429]);
  });

  test('a header-keyed limit counts per value, and keeps a long value only as its hash', async () => {
    const { counters, keys } = recordingCounters();
    const gw = await startGateway(limitedRoute([{ by: 'header:x-tenant', points: 2, durationSeconds: 60 }]), {
      counters,
    });
    closers.push(gw.close);
    const codes = async (tenant: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await get(`${gw.url}/x`, { 'x-tenant': tenant })).statusCode);
      return out;
    };
    const long = 'a'.repeat(4000);
    assert.deepEqual(await codes('acme', 3), [200, 200, 429]);
    assert.deepEqual(await codes('globex', 1), [200]);
    assert.deepEqual(await codes(long, 3), [200, 200, 429]);
    // Another long value with the same beginning is another key.
    assert.deepEqual(await codes(`${long}b`, 1), [200]);
    assert.ok(keys.includes('h:acme'));
    assert.ok(
      keys.every((k) => k.length <= 64 + 2),
      'no key is kept as long as the client sent it',
    );
  });

  test('a limit keyed by a credential header never keeps the credential, however short', async () => {
    // The key goes into Redis or over IPC to the component: an API key there is a credential at rest.
    const { counters, keys } = recordingCounters();
    const gw = await startGateway(
      limitedRoute([
        { by: 'header:x-api-key', points: 2, durationSeconds: 60 },
        { by: 'header:authorization', points: 2, durationSeconds: 60 },
      ]),
      { counters },
    );
    closers.push(gw.close);
    const secret = 'sk_live_4f9a2c';
    const codes: number[] = [];
    for (let i = 0; i < 3; i++)
      codes.push(
        (await get(`${gw.url}/x`, { 'x-api-key': secret, authorization: `Basic ${secret}` })).statusCode,
      );
    // Counted per value before authentication (which refuses this made-up key): the third is limited.
    assert.deepEqual(codes, [401, 401, 429], 'still counted per value');
    assert.ok(keys.length > 0 && keys.every((k) => !k.includes(secret)), keys.join(' '));
  });

  test('IPv6 clients are counted by their /64: rotating addresses in it buys no fresh budget', async () => {
    const rule = (ipv6Prefix?: number) =>
      limitedRoute([{ by: 'ip', points: 2, durationSeconds: 60, ...(ipv6Prefix ? { ipv6Prefix } : {}) }]);
    const gw = await startGateway(rule(), { trustedProxies: ['127.0.0.1'] });
    closers.push(gw.close);
    const from = async (ip: string) => (await get(`${gw.url}/x`, { 'x-forwarded-for': ip })).statusCode;
    const sameSite = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:fffe'];
    assert.deepEqual(
      [await from(sameSite[0]!), await from(sameSite[1]!), await from(sameSite[2]!)],
      [200, 200, 429],
    );
    assert.equal(await from('2001:db8:1:3::1'), 200, 'another /64 is another client');
    assert.equal(await from('192.0.2.1'), 200, 'IPv4 is counted by address');
    // `ipv6Prefix: 128` counts each address on its own.
    const perAddress = await startGateway(rule(128), { trustedProxies: ['127.0.0.1'] });
    closers.push(perAddress.close);
    const codes: number[] = [];
    for (const ip of sameSite)
      codes.push((await get(`${perAddress.url}/x`, { 'x-forwarded-for': ip })).statusCode);
    assert.deepEqual(codes, [200, 200, 200]);
    // A prefix that ends inside a byte: 2001:db8:1:10:: and 2001:db8:1:1f:: share their /60, :20:: not.
    const sixty = await startGateway(rule(60), { trustedProxies: ['127.0.0.1'] });
    closers.push(sixty.close);
    const at = async (ip: string) => (await get(`${sixty.url}/x`, { 'x-forwarded-for': ip })).statusCode;
    assert.deepEqual(
      [await at('2001:db8:1:10::1'), await at('2001:db8:1:1f::1'), await at('2001:db8:1:1a::9')],
      [200, 200, 429],
    );
    assert.equal(await at('2001:db8:1:20::1'), 200);
  });

  test('concurrent bursts through two gateways sharing Redis never exceed the limit', async () => {
    const prefix = `bulwark:test:${randomUUID()}`;
    const redisA = await redisClient();
    const redisB = await redisClient();
    closers.push(
      () => redisA.quit(),
      () => redisB.quit(),
    );
    const doc = limitedRoute([{ by: 'route', points: 50, durationSeconds: 60, store: 'redis' }]);
    const a = await startGateway(doc, { redis: redisA, rateLimitPrefix: prefix });
    const b = await startGateway(doc, { redis: redisB, rateLimitPrefix: prefix });
    closers.push(a.close, b.close);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => get(`${i % 2 ? a.url : b.url}/x`).then((r) => r.statusCode)),
    );
    assert.equal(results.filter((s) => s === 200).length, 50);
    assert.equal(results.filter((s) => s === 429).length, 150);
  });

  test('with Redis down, a fail-open rule lets requests through and a fail-closed rule refuses them', async () => {
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
    const rule = (failOpen: boolean) => [
      { by: 'ip' as const, points: 5, durationSeconds: 60, store: 'redis' as const, failOpen },
    ];
    const gw = await startGateway(
      {
        format_version: '1',
        services: [{ name: 'svc', targets: [upstream.url] }],
        routes: [
          {
            name: 'open',
            service: 'svc',
            paths: ['/open'],
            auth: { required: false },
            rateLimits: rule(true),
          },
          {
            name: 'closed',
            service: 'svc',
            paths: ['/closed'],
            auth: { required: false },
            rateLimits: rule(false),
          },
        ],
      },
      { redis: dead },
    );
    closers.push(gw.close);
    assert.equal((await get(`${gw.url}/open`)).statusCode, 200);
    const refused = await get(`${gw.url}/closed`);
    assert.equal(refused.statusCode, 503);
  });
});

describe('a Redis that stops answering', () => {
  test('is a Redis outage: fail-open lets requests through and fail-closed refuses them, without waiting', async () => {
    // A Redis that accepts commands and answers none (a partition that drops packets, a stalled host):
    // it stays "ready", so only a deadline makes it the outage that failOpen is about. Without one,
    // every request of the route waited for good, fail-open or not.
    const sockets = new Set<Socket>();
    const stalled = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('data', (chunk) => {
        // Only the handshake and the ready check are answered (each command's name is its first bulk).
        for (const [, name] of chunk.toString().matchAll(/\*\d+\r\n\$\d+\r\n([^\r]*)\r\n/g)) {
          const command = name!.toLowerCase();
          if (command === 'hello') socket.write('%1\r\n+server\r\n+redis\r\n');
          else if (command === 'client') socket.write('+OK\r\n');
          else if (command === 'info') {
            const info = '# Server\r\nredis_version:7.0.0\r\nloading:0\r\n';
            socket.write(`$${info.length}\r\n${info}\r\n`);
          }
        }
      });
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', () => r()));
    const port = (stalled.address() as { port: number }).port;
    const client = await redisClient(port);
    closers.push(async () => {
      client.disconnect();
      for (const socket of sockets) socket.destroy();
      stalled.close();
    });
    const route = (name: string, failOpen: boolean, algorithm: RateLimitSpec['algorithm']) => ({
      name,
      service: 'svc',
      paths: [`/${name}`],
      auth: { required: false },
      rateLimits: [
        { by: 'ip' as const, points: 5, durationSeconds: 60, store: 'redis' as const, failOpen, algorithm },
      ],
    });
    const gw = await startGateway(
      {
        format_version: '1',
        services: [{ name: 'svc', targets: [upstream.url] }],
        routes: [
          route('open', true, 'fixed-window'),
          route('closed', false, 'fixed-window'),
          route('open-sliding', true, 'sliding-window'),
          route('closed-bucket', false, 'token-bucket'),
        ],
      },
      { redis: client },
    );
    closers.push(gw.close);
    const started = Date.now();
    const timed = (path: string) =>
      request(`${gw.url}${path}`, { headersTimeout: 5_000 }).then(async (res) => {
        await res.body.dump();
        return res.statusCode;
      });
    assert.deepEqual(
      await Promise.all(['/open', '/closed', '/open-sliding', '/closed-bucket'].map(timed)),
      [200, 503, 200, 503],
    );
    assert.ok(Date.now() - started < 4_000, `${Date.now() - started} ms`);
  });
});

describe('concurrency, slowloris and body limits', () => {
  test('a route concurrency limit refuses the requests beyond it while others are in flight', async () => {
    const slow = await startUpstream();
    slow.delayMs = 1000;
    closers.push(() => slow.close());
    const gw = await startGateway(
      simpleRoutes(slow.url, [
        { name: 'r', service: 'svc', paths: ['/x'], auth: { required: false }, concurrency: 2 },
      ]),
    );
    closers.push(gw.close);
    const codes = await Promise.all(
      Array.from({ length: 5 }, () => get(`${gw.url}/x`).then((r) => r.statusCode)),
    );
    assert.equal(codes.filter((c) => c === 200).length, 2);
    assert.equal(codes.filter((c) => c === 503).length, 3);
    // Slots are released when responses end.
    assert.equal((await get(`${gw.url}/x`)).statusCode, 200);
  });

  test('a slowloris client is cut off by the header deadline', async () => {
    const gw = await startGateway(
      simpleRoutes(upstream.url, [{ name: 'r', service: 'svc', paths: ['/x'], auth: { required: false } }]),
      {
        limits: { headersTimeoutMs: 400, requestTimeoutMs: 400 },
      },
    );
    closers.push(gw.close);
    const { elapsedMs, data } = await slowloris(gw.port);
    assert.ok(elapsedMs < 4000, `closed after ${elapsedMs} ms`);
    assert.ok(data === '' || statusOf(data) === 408, data);
  });

  test('an oversized body is refused with 413, declared or chunked, and never reaches the upstream', async () => {
    const doc: RouteDocument = simpleRoutes(upstream.url, [
      {
        name: 'r',
        service: 'svc',
        paths: ['/x'],
        auth: { required: false },
        validate: { maxBodyBytes: 100 },
      },
    ]);
    const gw = await startGateway(doc);
    closers.push(gw.close);
    upstream.received.length = 0;
    const declared = await rawRequest(
      gw.port,
      `POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(1000)}`,
    );
    assert.equal(statusOf(declared), 413);
    const chunk = 'a'.repeat(500);
    const chunked = await rawRequest(
      gw.port,
      `POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${(500).toString(16)}\r\n${chunk}\r\n${(500).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.equal(statusOf(chunked), 413);
    assert.equal(upstream.received.length, 0);
  });
});
