/**
 * Gateway workers (src/gateway/workers) on their own: a worker serves with the gateway's SVID, takes a
 * renewed SVID for new connections when the component hands it over, and refuses an upstream whose
 * certificate the component has since learnt is revoked; a change sent while workers start is not lost;
 * a worker that cannot apply a change is replaced by one started from the current state.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { createLogger, MemoryAuditSink, systemClock } from '../../src/core/index.ts';
import type { SvidMaterial, WorkloadIdentity } from '../../src/core/mtls/index.ts';
import { LocalCounters } from '../../src/gateway/limits/counters.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import type { WorkerInit } from '../../src/gateway/workers/messages.ts';
import { WorkerPool } from '../../src/gateway/workers/worker-pool.ts';
import { createMeshServer } from '../../src/sdk/mesh/mesh-server.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { freePort } from '../fixtures/net.ts';
import { waitFor } from '../fixtures/wait.ts';
import { joinWorkload, meshPolicy, sid } from '../sdk/mesh-fixtures.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

const POLICY = `
permit (principal == Bulwark::Service::"${sid('gateway')}", action == Bulwark::Action::"call",
        resource == Bulwark::Service::"${sid('orders')}");
`;
const serialOf = (material: SvidMaterial) => new X509Certificate(material.certChain).serialNumber;

/** What the component sends a new worker, with no issuers, no policy and nothing revoked yet. */
function workerInit(port: number, routes: RouteDocument): WorkerInit {
  return {
    type: 'init',
    settings: {
      issuers: [],
      jwksCa: [],
      jwksCooldownMs: 1000,
      redisUrl: null,
      trustedProxies: [],
      allowedHosts: [],
      pathOptions: undefined,
      limits: undefined,
      identityKeyPem: generateKeyPairSync('ed25519')
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString(),
      assertionTtlSeconds: 60,
      auditAllowSampleRate: 0,
      hstsMaxAgeSeconds: 100,
      h2c: false,
      rateLimitMaxKeys: 200_000,
    },
    routes,
    policy: undefined,
    revocations: [],
    port,
    host: '127.0.0.1',
    log: { level: 'silent', redactKeys: [], maskFields: {} },
  };
}

describe('gateway worker on the mesh', () => {
  let authority: TestAuthority;
  let first: WorkloadIdentity;
  let renewed: WorkloadIdentity;
  let orders: WorkloadIdentity;
  let upstream: Server;
  let upstreamUrl: string;
  const pools: WorkerPool[] = [];

  before(async () => {
    authority = await startAuthority('sqlite');
    // Two SVIDs of the gateway's SPIFFE ID: the one a worker starts with, and a renewal.
    first = await joinWorkload(authority, 'gateway');
    renewed = await joinWorkload(authority, 'gateway');
    orders = await joinWorkload(authority, 'orders');
    upstream = createMeshServer({
      identity: orders,
      policy: meshPolicy(POLICY),
      audit: new MemoryAuditSink(),
      handler: (_req, res, peer) => {
        res.end(JSON.stringify({ caller: peer.spiffeId.uri }));
      },
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const p of pools) await p.close(100);
    upstream?.close();
    for (const i of [first, renewed, orders]) await i?.close();
    await authority?.stop();
  });

  const startWorker = async (port: number): Promise<WorkerPool> => {
    const init = (): WorkerInit => ({
      ...workerInit(port, {
        format_version: '1',
        services: [
          {
            name: 'orders',
            targets: [upstreamUrl],
            tls: { spiffeId: sid('orders') },
            retries: { attempts: 0 },
          },
        ],
        routes: [{ name: 'orders', paths: ['/orders'], service: 'orders', auth: { required: false } }],
      }),
      mesh: {
        material: first.credentials.material,
        trustDomain: 'bulwark.local',
        minVersion: 'TLSv1.2',
        peerRevocations: { sequence: 0, entries: [] },
      },
    });
    const pool = new WorkerPool({
      count: 1,
      init,
      logger: createLogger({ level: 'silent', component: 'test' }),
      audit: new MemoryAuditSink(),
      counters: new LocalCounters(systemClock),
    });
    pools.push(pool);
    await pool.start();
    return pool;
  };

  /** The serial of the certificate the worker presents on a new connection. */
  const presented = (port: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect(
        {
          port,
          host: '127.0.0.1',
          ca: first.credentials.material.bundle as string[],
          checkServerIdentity: () => undefined,
        },
        () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.end();
        },
      );
      socket.once('error', reject);
    });
  const get = async (port: number) => {
    const agent = new Agent({
      connect: { ca: first.credentials.material.bundle as string[], checkServerIdentity: () => undefined },
    });
    try {
      const res = await request(`https://127.0.0.1:${port}/orders`, { dispatcher: agent });
      return { status: res.statusCode, text: await res.body.text() };
    } finally {
      await agent.close();
    }
  };

  it('serves with the SVID, calls mesh upstreams as the gateway, and takes a renewed SVID', async () => {
    const port = await freePort();
    const pool = await startWorker(port);
    assert.equal(await presented(port), serialOf(first.credentials.material));
    assert.deepEqual(await get(port), { status: 200, text: JSON.stringify({ caller: sid('gateway') }) });
    pool.broadcast({ type: 'svid', material: renewed.credentials.material });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await presented(port), serialOf(renewed.credentials.material));
  });

  it('refuses an upstream whose certificate the component learnt is revoked', async () => {
    const port = await freePort();
    const pool = await startWorker(port);
    const material = orders.credentials.material;
    pool.broadcast({
      type: 'peer-revocations',
      feed: { sequence: 1, entries: [{ seq: 1, serial: serialOf(material), notAfter: material.notAfter }] },
    });
    await new Promise((r) => setTimeout(r, 200));
    const refused = await get(port);
    assert.ok(refused.status >= 502 && refused.status <= 504, `status ${refused.status}`);
    assert.doesNotMatch(refused.text, /caller/);
  });
});

describe('gateway workers, hand-over order, failure and shared limits', () => {
  let upstream: TestUpstream;
  const pools: WorkerPool[] = [];
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    for (const p of pools) await p.close(100);
    await upstream?.close();
  });

  const routes = (path: string) => ({
    format_version: '1' as const,
    services: [{ name: 'orders', targets: [upstream.url] }],
    routes: [{ name: 'orders', paths: [path], service: 'orders', auth: { required: false } }],
  });
  const plainInit = (port: number, path: string) => (): WorkerInit => workerInit(port, routes(path));
  /** Status codes of `n` requests, each on a new connection. */
  const statuses = async (port: number, path: string, n = 20) => {
    const out = new Set<number>();
    for (let i = 0; i < n; i++) {
      const res = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
      await res.body.dump();
      out.add(res.statusCode);
    }
    return [...out];
  };

  it('applies a change broadcast while the workers are still starting', async () => {
    const port = await freePort();
    const pool = new WorkerPool({
      count: 2,
      init: plainInit(port, '/orders'),
      logger: createLogger({ level: 'silent', component: 'test' }),
      audit: new MemoryAuditSink(),
      counters: new LocalCounters(systemClock),
    });
    pools.push(pool);
    const starting = pool.start();
    // Sent in the same tick as the forks: after each worker's init, before either listens.
    pool.broadcast({ type: 'routes', document: routes('/v2/orders') });
    await starting;
    assert.deepEqual(await statuses(port, '/v2/orders'), [200]);
    assert.deepEqual(await statuses(port, '/orders'), [404]);
  });

  it('replaces a worker that cannot apply a change, from the current state', async () => {
    const port = await freePort();
    let current = '/orders';
    const pool = new WorkerPool({
      count: 1,
      init: () => plainInit(port, current)(),
      logger: createLogger({ level: 'silent', component: 'test' }),
      audit: new MemoryAuditSink(),
      counters: new LocalCounters(systemClock),
    });
    pools.push(pool);
    await pool.start();
    current = '/after';
    // Not a route document: the worker stops rather than serve stale routes, and comes back from `init`.
    pool.broadcast({ type: 'routes', document: { format_version: '1', routes: 'nonsense' } as never });
    await waitFor(
      async () => {
        try {
          return (await statuses(port, '/after', 1))[0] === 200;
        } catch {
          return false;
        }
      },
      'a new worker serving the current routes',
      10_000,
    );
    assert.equal(pool.size, 1);
  });

  const limitedRoutes = (): RouteDocument => ({
    format_version: '1',
    services: [{ name: 'orders', targets: [upstream.url] }],
    routes: [
      {
        name: 'limited',
        paths: ['/limited'],
        service: 'orders',
        auth: { required: false },
        rateLimits: [{ by: 'route', points: 10, durationSeconds: 60 }],
      },
      {
        name: 'local',
        paths: ['/local'],
        service: 'orders',
        auth: { required: false },
        rateLimits: [{ by: 'route', points: 10, durationSeconds: 60, store: 'process' }],
      },
      { name: 'slow', paths: ['/slow'], service: 'orders', auth: { required: false }, concurrency: 2 },
    ],
  });
  const workerPids = (): number[] =>
    execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('worker-main.ts'))
      .map((line) => Number(line.trim().split(/\s+/)[0]));

  it('a rate limit counts requests in every worker (unless `store: process`), and a dead worker gives its slots back', async () => {
    const port = await freePort();
    const counters = new LocalCounters(systemClock);
    const pool = new WorkerPool({
      count: 2,
      init: () => workerInit(port, limitedRoutes()),
      logger: createLogger({ level: 'silent', component: 'test' }),
      audit: new MemoryAuditSink(),
      counters,
    });
    pools.push(pool);
    await pool.start();
    // Each request on its own connection, so that both processes serve some: counted per process, two
    // workers would let up to 20 through.
    const codes: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await request(`http://127.0.0.1:${port}/limited`, { reset: true });
      await res.body.dump();
      codes.push(res.statusCode);
      if (res.statusCode === 200) assert.ok(Number(res.headers['ratelimit-remaining']) < 10);
    }
    assert.equal(codes.filter((c) => c === 200).length, 10);
    assert.equal(codes.filter((c) => c === 429).length, 20);
    // `store: process` is the opt-out: each process counts on its own, with no IPC.
    let allowed = 0;
    for (let i = 0; i < 30; i++) {
      const res = await request(`http://127.0.0.1:${port}/local`, { reset: true });
      await res.body.dump();
      if (res.statusCode === 200) allowed++;
    }
    assert.ok(allowed > 10 && allowed <= 20, `${allowed} allowed`);

    // Two slow requests take both slots of `slow`, wherever they land; a third is refused.
    upstream.delayMs = 60_000;
    const hanging = [0, 1].map(() =>
      request(`http://127.0.0.1:${port}/slow`, { reset: true }).then(
        (r) => r.body.dump(),
        () => undefined,
      ),
    );
    await waitFor(async () => counters.inFlight('slow') === 2, 'both slots taken', 5_000);
    const third = await request(`http://127.0.0.1:${port}/slow`, { reset: true });
    await third.body.dump();
    assert.equal(third.statusCode, 503);
    // Killed mid-request, the workers never release their slots themselves: the pool does.
    for (const pid of workerPids()) process.kill(pid, 'SIGKILL');
    await waitFor(async () => counters.inFlight('slow') === 0, 'slots given back', 5_000);
    upstream.delayMs = 0;
    await Promise.all(hanging);
  });
});
