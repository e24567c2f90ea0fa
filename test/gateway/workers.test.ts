/**
 * `workers`: several processes serve the gateway's public port, and they act as one gateway. Every check
 * holds whichever process a connection lands on (a revoked token, a route removed by a sync), including a
 * worker started again after it was killed; upstreams verify every process's identity assertions with the
 * one JWKS; denials from every process reach the audit log; a scrape counts every process's requests.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import {
  buildConfigSchema,
  loadConfig,
  MemoryAuditSink,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { GATEWAY_CONFIG, gatewayComponent } from '../../src/gateway/index.ts';
import { waitFor } from '../fixtures/wait.ts';
import { tempHome } from './fixtures/harness.ts';
import { startIssuer, type TestIssuer } from './fixtures/issuer.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

const OPERATOR = 'operator-token-0123456789abcdef';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** Requests per check: each on a new connection, so that they spread over the processes. */
const N = 40;

describe('gateway workers', () => {
  let home: string;
  let issuer: TestIssuer;
  let upstream: TestUpstream;
  let running: RunningComponent;
  let publicUrl: string;
  let ca: Buffer;
  const audit = new MemoryAuditSink();

  const routes = (path: string) =>
    stringify({
      format_version: '1',
      services: [{ name: 'orders', targets: [upstream.url] }],
      routes: [{ name: 'orders', service: 'orders', paths: [path], auth: { audience: 'orders' } }],
    });

  /** The worker processes: children of this process running the worker entry. */
  const workerPids = (): number[] =>
    execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('worker-main.ts'))
      .map((line) => Number(line.trim().split(/\s+/)[0]));

  /** Each request on its own connection (the kernel picks a process per connection). */
  const statuses = async (path: string, token: string): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < N; i++) {
      const agent = new Agent({ connect: { ca } });
      try {
        const res = await request(`${publicUrl}${path}`, {
          dispatcher: agent,
          headers: { authorization: `Bearer ${token}` },
        });
        await res.body.dump();
        out.push(res.statusCode);
      } finally {
        await agent.close();
      }
    }
    return out;
  };

  const admin = async (path: string, init: { method?: 'GET' | 'PUT' | 'POST'; body?: unknown } = {}) => {
    const agent = new Agent({ connect: { ca } });
    try {
      const res = await request(`${running.url}${path}`, {
        dispatcher: agent,
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${OPERATOR}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
        },
        ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      });
      return { status: res.statusCode, text: await res.body.text() };
    } finally {
      await agent.close();
    }
  };

  /** Sum of a counter over its series, from the admin API's merged scrape. */
  const counted = async (name: string): Promise<number> => {
    const text = (await admin('/v1/gateway/metrics')).text;
    let sum = 0;
    for (const line of text.split('\n'))
      if (line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
    return sum;
  };

  before(async () => {
    home = tempHome();
    issuer = await startIssuer(home);
    upstream = await startUpstream();
    const routesFile = join(home, 'routes.yaml');
    writeFileSync(routesFile, routes('/orders'));
    const file = join(home, 'bulwark.yaml');
    writeFileSync(
      file,
      stringify({
        home,
        mode: 'development',
        log: { level: 'silent' },
        components: {
          gateway: {
            publicPort: 0,
            workers: 3,
            routesFile,
            issuers: [{ issuer: issuer.issuer, audiences: ['orders'], algorithms: ['ES256'] }],
            adminTokens: [{ sha256: sha(OPERATOR), role: 'operator' }],
            auditAllowSampleRate: 1,
          },
        },
      }),
    );
    const schema = buildConfigSchema([
      { name: 'gateway', defaultPort: gatewayComponent.defaultPort, properties: GATEWAY_CONFIG },
    ]);
    running = await runComponent(gatewayComponent, loadConfig(schema, { file, env: {} }), { port: 0, audit });
    publicUrl = (running.endpoints['public'] ?? '').replace('127.0.0.1', 'localhost');
    ca = readFileSync(join(home, 'tls', 'ca.crt'));
  });
  after(async () => {
    await running?.stop();
    await upstream?.close();
    await issuer?.close();
  });

  it('serves the port from every process, with one assertion key and one merged scrape', async () => {
    assert.equal(workerPids().length, 2);
    const before = await counted('bulwark_gateway_requests_total');
    const token = await issuer.sign({ aud: 'orders', sub: 'alice' });
    upstream.received.length = 0;
    assert.deepEqual(await statuses('/orders', token), Array(N).fill(200));
    // Every process's assertions verify against the JWKS the admin API publishes.
    const jwks = createLocalJWKSet(JSON.parse((await admin('/v1/gateway/jwks.json')).text) as JSONWebKeySet);
    for (const r of upstream.received) {
      await jwtVerify(r.headers['x-bulwark-identity'] as string, jwks, { audience: 'orders' });
    }
    assert.equal((await counted('bulwark_gateway_requests_total')) - before, N);
  });

  it('refuses a revoked token in every process, also in a worker started after the revocation', async () => {
    const token = await issuer.sign({ aud: 'orders', sub: 'mallory', jti: 'stolen-1' });
    const denied = audit.events.filter((e) => e.action === 'gateway.request.denied').length;
    const exp = Math.floor(Date.now() / 1000) + 600;
    assert.equal(
      (await admin('/v1/gateway/revocations', { method: 'POST', body: { jti: 'stolen-1', exp } })).status,
      204,
    );
    assert.deepEqual(await statuses('/orders', token), Array(N).fill(401));
    // Denials from every process are in the component's audit log.
    await waitFor(
      () => audit.events.filter((e) => e.action === 'gateway.request.denied').length - denied === N,
      'every denial to reach the audit sink',
      5000,
    );
    const [victim] = workerPids();
    process.kill(victim as number, 'SIGKILL');
    await waitFor(
      () => {
        const pids = workerPids();
        return pids.length === 2 && !pids.includes(victim as number);
      },
      'the killed worker to be replaced',
      10_000,
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await statuses('/orders', token), Array(N).fill(401));
  });

  it('applies a route sync in every process', async () => {
    const synced = await admin('/v1/gateway/routes', { method: 'PUT', body: { yaml: routes('/v2/orders') } });
    assert.equal(synced.status, 200, synced.text);
    const token = await issuer.sign({ aud: 'orders', sub: 'alice' });
    assert.deepEqual(await statuses('/orders', token), Array(N).fill(404));
    assert.deepEqual(await statuses('/v2/orders', token), Array(N).fill(200));
  });

  it('stops every worker with the component', async () => {
    const pids = workerPids();
    await running.stop();
    await waitFor(() => workerPids().length === 0, 'the workers to exit', 10_000);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0));
  });
});
