/** Issue 7, "Upstream": load balancing, retries within a budget, circuit breaker, health checks, mTLS, hot reload. */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { stringify } from 'yaml';
import { localServerCredentials } from '../../src/core/index.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { simpleRoutes, startGateway, tempHome } from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function upstreams(n: number): Promise<TestUpstream[]> {
  const list = await Promise.all(Array.from({ length: n }, () => startUpstream()));
  for (const u of list) closers.push(() => u.close());
  return list;
}

/** A loopback port with nothing listening (connection refused). */
/**
 * A port nothing listens on. Taken below Linux's ephemeral range (32768-60999): a port freed from there
 * can be handed at once to another test's server or connection, which then answers (or hangs) where this
 * test expects a refusal.
 */
async function deadPort(): Promise<string> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const s = createServer();
    const free = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '127.0.0.1', () => r(true));
    });
    if (!free) continue;
    await new Promise<void>((r) => s.close(() => r()));
    return `http://127.0.0.1:${port}`;
  }
}

const open = { auth: { required: false } };

/** Waits until `condition` holds (polling), so timing-based tests survive a loaded machine. */
async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A gateway with one open route, /x, to an upstream on loopback that answers with `handler`. */
async function gatewayTo(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const gw = await startGateway(simpleRoutes(url, [{ name: 'r', service: 'svc', paths: ['/x'], ...open }]));
  closers.push(gw.close);
  return gw;
}

describe('upstream resilience', () => {
  test('requests are spread round robin over the targets', async () => {
    const [a, b] = await upstreams(2);
    const gw = await startGateway({
      format_version: '1',
      services: [{ name: 'svc', targets: [a!.url, b!.url] }],
      routes: [{ name: 'r', service: 'svc', paths: ['/x'], ...open }],
    });
    closers.push(gw.close);
    for (let i = 0; i < 10; i++) {
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    assert.equal(a!.received.length, 5);
    assert.equal(b!.received.length, 5);
  });

  test('an idempotent request is retried after a 503, a POST is not', async () => {
    const [u] = await upstreams(1);
    const gw = await startGateway(
      simpleRoutes(u!.url, [{ name: 'r', service: 'svc', paths: ['/x'], ...open }]),
    );
    closers.push(gw.close);
    let calls = 0;
    u!.status = 503;
    const original = u!.received.push.bind(u!.received);
    u!.received.push = (...items) => {
      calls++;
      if (calls === 1) setImmediate(() => (u!.status = 200));
      return original(...items);
    };
    const get = await request(`${gw.url}/x`);
    await get.body.dump();
    assert.equal(get.statusCode, 200);
    assert.equal(u!.received.length, 2);
    u!.status = 503;
    u!.received.length = 0;
    calls = 10;
    const post = await request(`${gw.url}/x`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    await post.body.dump();
    assert.equal(post.statusCode, 503);
    assert.equal(u!.received.length, 1);
  });

  test('retries stop when the retry budget is spent', async () => {
    const [u] = await upstreams(1);
    const routes = simpleRoutes(u!.url, [{ name: 'r', service: 'svc', paths: ['/x'], ...open }]);
    routes.services[0]!.retries = { attempts: 3, budgetPercent: 0 };
    routes.services[0]!.circuitBreaker = { failures: 1000 };
    const gw = await startGateway(routes);
    closers.push(gw.close);
    u!.status = 503;
    for (let i = 0; i < 20; i++) await (await request(`${gw.url}/x`)).body.dump();
    // 20 requests, a floor of 10 retry tokens and 0% deposits: at most 30 upstream calls, not 80.
    assert.ok(u!.received.length <= 30, `upstream saw ${u!.received.length}`);
    assert.ok(u!.received.length >= 20);
  });

  test('a connection reset before the answer is retried for a GET, not for a POST', async () => {
    // The first connection of each request is cut before any answer: the upstream may or may not
    // have acted on it, so only an idempotent request may be sent again.
    const seen: string[] = [];
    const gw = await gatewayTo((req, res) => {
      seen.push(req.method ?? '');
      if (seen.length % 2 === 1) req.socket.destroy();
      else res.end('ok');
    });
    const get = await request(`${gw.url}/x`);
    assert.equal(get.statusCode, 200);
    assert.equal(await get.body.text(), 'ok');
    assert.deepEqual(seen, ['GET', 'GET']);
    const post = await request(`${gw.url}/x`, { method: 'POST', body: 'a' });
    await post.body.dump();
    assert.equal(post.statusCode, 502);
    assert.deepEqual(seen, ['GET', 'GET', 'POST']);
  });

  test('a retry after a reset skips a target the request could not reach, instead of giving up', async () => {
    let calls = 0;
    const flaky = http.createServer((req, res) => {
      if (++calls === 1) req.socket.destroy();
      else res.end('ok');
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => flaky.close(() => r())));
    const dead = await deadPort();
    const gw = await startGateway({
      format_version: '1',
      // Round robin starts at the dead target: refused (never sent), then the flaky one resets the
      // request, and the retry's round robin turn would land on the dead one again.
      services: [
        { name: 'svc', targets: [dead, `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`] },
      ],
      routes: [{ name: 'r', service: 'svc', paths: ['/x'], ...open }],
    });
    closers.push(gw.close);
    const res = await request(`${gw.url}/x`);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'ok');
    assert.equal(calls, 2);
  });

  test('an answer cut off mid-body is never resumed from another upstream response', async () => {
    // Resuming with a Range request (what a download client does) would splice two upstream answers,
    // possibly of two versions of the resource, into one client response. The client must see the cut.
    const seen: (string | undefined)[] = [];
    const gw = await gatewayTo((req, res) => {
      seen.push(req.headers.range);
      res.writeHead(200, { 'content-length': '10', 'accept-ranges': 'bytes', etag: '"v1"' });
      if (req.headers.range) res.end('56789');
      else res.write('01234', () => setTimeout(() => req.socket.destroy(), 50));
    });
    const res = await request(`${gw.url}/x`);
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
    assert.deepEqual(seen, [undefined]);
  });

  test('an informational answer (103 Early Hints) is not taken for the final one', async () => {
    // undici hands 1xx heads to a dispatch handler's onResponseStart as well. Taken for the answer, the
    // 103 was written as the client's head, the real head then failed to be written (headers sent) and
    // the exchange was abandoned: the client hung; a 503 after it could not be retried either.
    let calls = 0;
    const gw = await gatewayTo((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      if (++calls === 1) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('busy');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }
    });
    const res = await request(`${gw.url}/x`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'ok');
    assert.equal(calls, 2);
  });

  test('a dead target is skipped by failover and then by its open circuit', async () => {
    const [live] = await upstreams(1);
    const dead = await deadPort();
    const routes: RouteDocument = {
      format_version: '1',
      services: [
        { name: 'svc', targets: [dead, live!.url], circuitBreaker: { failures: 2, openMs: 60_000 } },
      ],
      routes: [{ name: 'r', service: 'svc', paths: ['/x'], ...open }],
    };
    const gw = await startGateway(routes);
    closers.push(gw.close);
    for (let i = 0; i < 6; i++) {
      const res = await request(`${gw.url}/x`, { method: 'POST', body: 'a' });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
    }
    assert.equal(live!.received.length, 6);
    const service = gw.gateway.runtime.table.services.get('svc')!;
    assert.equal(service.targets[0]!.breaker.state, 'open');
  });

  test('with every target down the gateway answers 503 without waiting', async () => {
    const routes = simpleRoutes(await deadPort(), [{ name: 'r', service: 'svc', paths: ['/x'], ...open }]);
    routes.services[0]!.circuitBreaker = { failures: 1, openMs: 60_000 };
    const gw = await startGateway(routes);
    closers.push(gw.close);
    const first = await request(`${gw.url}/x`);
    assert.equal(first.statusCode, 502);
    assert.equal(((await first.body.json()) as { code: string }).code, 'gateway_upstream_error');
    const second = await request(`${gw.url}/x`);
    assert.equal(second.statusCode, 503);
    assert.equal(((await second.body.json()) as { code: string }).code, 'gateway_upstream_unavailable');
  });

  test('active health checks take a failing target out of rotation', async () => {
    const [sick, well] = await upstreams(2);
    sick!.status = 500;
    const gw = await startGateway({
      format_version: '1',
      services: [
        {
          name: 'svc',
          targets: [sick!.url, well!.url],
          healthCheck: { path: '/healthz', intervalMs: 30, unhealthyAfter: 1 },
        },
      ],
      routes: [{ name: 'r', service: 'svc', paths: ['/x'], ...open }],
    });
    closers.push(gw.close);
    const service = gw.gateway.runtime.table.services.get('svc')!;
    await until(() => service.targets[0]!.healthy === false);
    sick!.received.length = 0;
    for (let i = 0; i < 6; i++) await (await request(`${gw.url}/x`)).body.dump();
    assert.equal(sick!.received.filter((r) => r.url === '/x').length, 0);
    assert.equal(well!.received.filter((r) => r.url === '/x').length, 6);
  });

  test('upstream mTLS uses the configured client certificate and CA from the local CA', async () => {
    const home = tempHome();
    const server = await localServerCredentials(home, 'orders');
    await localServerCredentials(home, 'gateway-client');
    const u = await startUpstream({ ...server, requestCert: true });
    closers.push(() => u.close());
    const base: RouteDocument = {
      format_version: '1',
      services: [
        {
          name: 'svc',
          targets: [u.url],
          tls: {
            caFile: join(home, 'tls', 'ca.crt'),
            certFile: join(home, 'tls', 'gateway-client.crt'),
            keyFile: join(home, 'tls', 'gateway-client.key'),
          },
        },
      ],
      routes: [{ name: 'r', service: 'svc', paths: ['/x'], ...open }],
    };
    const gw = await startGateway(base);
    closers.push(gw.close);
    const ok = await request(`${gw.url}/x`);
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    assert.equal(u.received[0]?.peerCertificateCn, 'gateway-client');
    // Without a client certificate the upstream refuses the handshake.
    const noCert = structuredClone(base);
    delete noCert.services[0]!.tls!.certFile;
    delete noCert.services[0]!.tls!.keyFile;
    gw.gateway.apply(noCert);
    const refused = await request(`${gw.url}/x`);
    await refused.body.dump();
    assert.equal(refused.statusCode, 502);
  });
});

describe('route file hot reload', () => {
  test('reloads under load drop no request, and a bad file never replaces a good one', async () => {
    const [a, b] = await upstreams(2);
    const file = join(tempHome(), 'routes.yaml');
    const doc = (target: string): RouteDocument =>
      simpleRoutes(target, [{ name: 'r', service: 'svc', paths: ['/x'], ...open }]);
    writeFileSync(file, stringify(doc(a!.url)));
    const gw = await startGateway(doc(a!.url));
    closers.push(gw.close);
    gw.gateway.watch(file);
    let running = true;
    const statuses: number[] = [];
    const load = Array.from({ length: 4 }, async () => {
      while (running) {
        const res = await request(`${gw.url}/x`);
        await res.body.dump();
        statuses.push(res.statusCode);
      }
    });
    for (let i = 0; i < 4; i++) {
      const next = i % 2 === 0 ? b! : a!;
      const seen = next.received.length;
      writeFileSync(`${file}.tmp`, stringify(doc(next.url)));
      renameSync(`${file}.tmp`, file);
      // Each reload is applied (traffic moves to the new target) before the next one is written.
      await until(() => next.received.length > seen + 5);
    }
    await until(() => a!.received.length > 0 && b!.received.length > 0);
    const metricsOf = () => gw.gateway.runtime.metrics.registry.metrics();
    // A file with an unknown service: rejected, the last good table keeps serving.
    writeFileSync(
      file,
      'format_version: "1"\nservices: []\nroutes: [{name: r, service: nope, paths: [/x]}]\n',
    );
    const deadline = Date.now() + 5000;
    while (!/route_reloads_total\{result="rejected"\} 1/.test(await metricsOf()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    running = false;
    await Promise.all(load);
    assert.ok(statuses.length > 20);
    assert.deepEqual([...new Set(statuses)], [200]);
    assert.ok(a!.received.length > 0 && b!.received.length > 0);
    const after = await request(`${gw.url}/x`);
    await after.body.dump();
    assert.equal(after.statusCode, 200);
    const metrics = await gw.gateway.runtime.metrics.registry.metrics();
    assert.match(metrics, /bulwark_gateway_route_reloads_total\{result="rejected"\} 1/);
  });

  test('a request still reading its body when its service is replaced finishes on the old service', async () => {
    // The table is swapped between a request's routing and its upstream call (body read, token check,
    // Redis limits): the service it routed to must still take it, not answer 502 because it was closed.
    const [a, b] = await upstreams(2);
    const doc = (target: string): RouteDocument =>
      simpleRoutes(target, [
        {
          name: 'r',
          service: 'svc',
          paths: ['/x'],
          ...open,
          validate: { body: { type: 'object' }, contentTypes: ['application/json'] },
        },
      ]);
    const gw = await startGateway(doc(a!.url));
    closers.push(gw.close);
    const status = new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.url}/x`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': '2' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{');
      setTimeout(() => {
        gw.gateway.apply(doc(b!.url));
        setTimeout(() => req.end('}'), 50);
      }, 100);
    });
    assert.equal(await status, 200);
    assert.equal(a!.received.length, 1);
  });

  test('a rejected file is read again on the next change in its directory: its certificate may come after it', async () => {
    // Route file and CA written one after the other into one directory: the file first names a CA that is
    // not there yet and is rejected; once the CA arrives, the same text is good and must be applied.
    const dir = tempHome();
    const caHome = tempHome();
    await localServerCredentials(caHome, 'orders');
    const file = join(dir, 'routes.yaml');
    const doc = (path: string, tls?: { caFile: string }): RouteDocument => ({
      format_version: '1',
      services: [{ name: 'svc', targets: ['https://127.0.0.1:9'], ...(tls ? { tls } : {}) }],
      routes: [{ name: 'r', service: 'svc', paths: [path], ...open }],
    });
    writeFileSync(file, stringify(doc('/x')));
    const gw = await startGateway(doc('/x'));
    closers.push(gw.close);
    gw.gateway.watch(file);
    const metricsOf = () => gw.gateway.runtime.metrics.registry.metrics();
    writeFileSync(`${file}.tmp`, stringify(doc('/y', { caFile: join(dir, 'ca.crt') })));
    renameSync(`${file}.tmp`, file);
    const deadline = Date.now() + 5000;
    while (!/route_reloads_total\{result="rejected"\} 1/.test(await metricsOf()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(gw.gateway.runtime.table.document.routes[0]?.paths, ['/x']);
    writeFileSync(join(dir, 'ca.crt'), readFileSync(join(caHome, 'tls', 'ca.crt')));
    await until(() => gw.gateway.runtime.table.document.routes[0]?.paths[0] === '/y');
  });

  test('a route file mounted as a swapped symlink (a Kubernetes ConfigMap) is reloaded', async () => {
    // kubelet updates a ConfigMap volume by writing a new `..<timestamp>` directory and renaming a new
    // `..data` link over the old one; `routes.yaml -> ..data/routes.yaml` itself never changes, so the
    // directory's events name `..data`, never `routes.yaml`.
    const dir = tempHome();
    const version = (n: number, path: string) => {
      mkdirSync(join(dir, `..v${n}`));
      writeFileSync(
        join(dir, `..v${n}`, 'routes.yaml'),
        stringify(
          simpleRoutes('http://127.0.0.1:9', [{ name: 'r', service: 'svc', paths: [path], ...open }]),
        ),
      );
    };
    version(1, '/one');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/routes.yaml', join(dir, 'routes.yaml'));
    const gw = await startGateway(
      simpleRoutes('http://127.0.0.1:9', [{ name: 'r', service: 'svc', paths: ['/one'] }]),
    );
    closers.push(gw.close);
    gw.gateway.watch(join(dir, 'routes.yaml'));
    version(2, '/two');
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await until(() => gw.gateway.runtime.table.document.routes[0]?.paths[0] === '/two', 3000);
  });
});
