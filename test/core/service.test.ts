/** The service bootstrap over real HTTPS on loopback, with certificates from the local CA. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { coreError, createLogger, Service } from '../../src/core/index.ts';
import { testConfig } from '../fixtures/config.ts';

describe('service bootstrap', () => {
  const config = testConfig({
    BULWARK_SERVER__LIMITS__BODY_BYTES: '1024',
    BULWARK_SERVER__LIMITS__REQUEST_TIMEOUT_MS: '800',
    BULWARK_SERVER__SHUTDOWN_GRACE_MS: '3000',
  });
  const lines: string[] = [];
  const logger = createLogger({
    level: 'info',
    component: 'svc',
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  let ready = true;
  let release: () => void = () => undefined;
  const service = new Service({
    name: 'svc',
    config,
    logger,
    port: 0,
    readiness: { database: () => ready },
    routes: async (app) => {
      app.post('/echo', async (req) => req.body);
      app.get('/boom', async () => {
        throw new Error('connection string postgres://admin:hunter2@db/x failed at /srv/secret.ts');
      });
      app.get('/items/:id', async (req) => ({ id: (req.params as { id: string }).id }));
      app.get('/teapot', async () => {
        throw coreError('rate_limited', 'slow down', { headers: { 'retry-after': '7' } });
      });
      app.get('/slow', async () => {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return { done: true };
      });
    },
  });
  let url: string;
  let dispatcher: Agent;

  before(async () => {
    url = await service.start();
    dispatcher = new Agent({ connect: { ca: readFileSync(join(config.home, 'tls', 'ca.crt')) } });
  });
  after(async () => {
    await service.stop();
    await dispatcher.close();
  });

  const call = async (
    path: string,
    init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  ) => {
    const res = await request(`${url}${path}`, {
      dispatcher,
      method: (init.method ?? 'GET') as 'GET',
      body: init.body,
      headers: init.headers,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };

  it('serves HTTPS with a certificate that chains to the local CA', async () => {
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await call('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { status: 'ok', component: 'svc' });
  });

  it('refuses a client that does not trust the CA', async () => {
    await assert.rejects(request(`${url}/healthz`), /certificate/i);
  });

  it('refuses TLS 1.1', async () => {
    const port = Number(new URL(url).port);
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          maxVersion: 'TLSv1.1',
          minVersion: 'TLSv1',
          rejectUnauthorized: false,
        });
        socket.once('secureConnect', () => resolve(socket.end()));
        socket.once('error', reject);
      }),
    );
  });

  it('reports readiness from its checks', async () => {
    assert.equal((await call('/readyz')).status, 200);
    ready = false;
    const res = await call('/readyz');
    ready = true;
    assert.equal(res.status, 503);
    assert.deepEqual(res.json()['checks'], { database: false });
  });

  it('exposes Prometheus metrics with build info and per-route latency', async () => {
    await call('/healthz');
    const res = await call('/metrics');
    assert.match(res.headers['content-type'] as string, /text\/plain/);
    assert.match(res.text, /bulwark_build_info\{version="[^"]+",node="v\d+[^"]*",component="svc"\} 1/);
    assert.match(
      res.text,
      /bulwark_http_request_duration_seconds_count\{component="svc",method="GET",route="\/healthz",status="200"\}/,
    );
    assert.match(res.text, /bulwark_process_cpu_seconds_total/);
  });

  it('answers unknown routes with an RFC 9457 problem', async () => {
    const res = await call('/nowhere?token=abc');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
    const problem = res.json();
    assert.equal(problem['code'], 'not_found');
    assert.equal(problem['type'], 'https://bulwark.dev/docs/errors#not_found');
    assert.equal(problem['instance'], '/nowhere');
  });

  it("answers the router's own refusals as problems, without the path, and takes ids up to 256 characters", async () => {
    for (const path of ['/items/%FF<script>', `/items/${'x'.repeat(257)}<b>`]) {
      const res = await call(path);
      assert.equal(res.status, 400, path);
      assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
      assert.equal(res.json()['code'], 'invalid_request');
      assert.ok(!res.text.includes('script') && !res.text.includes('<b>'), res.text);
    }
    const long = 'r'.repeat(128);
    const ok = await call(`/items/${long}`);
    assert.equal(ok.status, 200);
    assert.equal(ok.json()['id'], long);
  });

  it('rejects malformed JSON with 400 invalid_request', async () => {
    const res = await call('/echo', {
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.json()['code'], 'invalid_request');
  });

  it('rejects a body over the limit with 413 request_too_large', async () => {
    const res = await call('/echo', {
      method: 'POST',
      body: JSON.stringify({ a: 'x'.repeat(2000) }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 413);
    assert.equal(res.json()['code'], 'request_too_large');
  });

  it('hides the internals of a 500 from the client and logs them redacted under the request id', async () => {
    const res = await call('/boom', { headers: { 'x-request-id': 'trace-42' } });
    assert.equal(res.status, 500);
    assert.deepEqual(Object.keys(res.json()).sort(), [
      'code',
      'detail',
      'instance',
      'requestId',
      'status',
      'title',
      'type',
    ]);
    assert.equal(res.json()['detail'], 'Internal error');
    assert.doesNotMatch(res.text, /hunter2|secret\.ts|postgres/);
    assert.equal(res.headers['x-request-id'], 'trace-42');
    const logged = lines.find((l) => l.includes('"request failed"'));
    assert.ok(logged?.includes('"reqId":"trace-42"'));
  });

  it('passes headers of a known error through, such as Retry-After on 429', async () => {
    const res = await call('/teapot');
    assert.equal(res.status, 429);
    assert.equal(res.headers['retry-after'], '7');
    assert.equal(res.json()['detail'], 'slow down');
  });

  it('replaces a request id that could forge log lines', async () => {
    const res = await call('/healthz', { headers: { 'x-request-id': 'a'.repeat(200) } });
    assert.notEqual(res.headers['x-request-id'], 'a'.repeat(200));
    assert.match(res.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  });

  it('answers 408 to a client that sends its body too slowly', async () => {
    const { port } = new URL(url);
    const ca = readFileSync(join(config.home, 'tls', 'ca.crt'));
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), ca, servername: 'localhost' }, () => {
        socket.write(
          'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
        );
      });
      let data = '';
      socket.on('data', (d) => {
        data += String(d);
      });
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 408/);
  });

  it('drains an in-flight request on stop, then refuses new connections', async () => {
    const slow = call('/slow');
    await new Promise((r) => setTimeout(r, 100));
    const stopping = service.stop();
    await new Promise((r) => setTimeout(r, 100));
    release();
    const res = await slow;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { done: true });
    await stopping;
    await assert.rejects(
      request(`${url}/healthz`, { dispatcher: new Agent({ connect: { rejectUnauthorized: false } }) }),
      /ECONNREFUSED/,
    );
  });
});
