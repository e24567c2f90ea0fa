/**
 * Masking per role in the gateway's answers: a route's `mask` rules mask sensitive JSON fields unless one
 * of the caller's roles reveals them; an answer that cannot be masked (not JSON, compressed) never passes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { startGateway, type TestGateway } from './fixtures/harness.ts';

const RECORD = { name: 'Alice', ssn: '123-45-6789', payment: { cardNumber: '4111111111111111' } };
const key = (name: string) => `key-${name}-0123456789abcdef`;
const consumer = (name: string, roles: string[]) => ({
  name,
  apiKeyHash: `sha256:${createHash('sha256').update(key(name)).digest('hex')}`,
  subject: name,
  roles,
});

describe('gateway response masking', () => {
  let upstream: Server;
  let gw: TestGateway;

  before(async () => {
    let flaky = 0;
    upstream = createServer((req, res) => {
      // Every other call to /flaky is a 503: the gateway retries it before masking anything.
      if (req.url === '/flaky' && flaky++ % 2 === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(RECORD));
      }
      if (req.url === '/record' || req.url === '/flaky') {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' });
        return res.end(JSON.stringify(RECORD));
      }
      if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(`ssn ${RECORD.ssn}`);
      }
      // Compressed even though the gateway asked for identity: must not pass unmasked.
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify(RECORD)));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const mask = {
      fields: { ssn: 'ssn' as const, cardNumber: 'card' as const },
      reveal: { compliance: ['ssn'] },
    };
    const routes: RouteDocument = {
      format_version: '1',
      services: [{ name: 'records', targets: [target] }],
      routes: ['/record', '/text', '/gzip', '/flaky'].map((path) => ({
        name: path.slice(1),
        service: 'records',
        paths: [path],
        auth: { apiKeys: true },
        mask,
      })),
      consumers: [consumer('clerk', ['billing-clerk']), consumer('auditor', ['compliance'])],
    };
    gw = await startGateway(routes);
  });
  after(async () => {
    await gw.close();
    upstream.close();
  });

  const call = async (path: string, who: string) => {
    const res = await request(`${gw.url}${path}`, { headers: { 'x-api-key': key(who) } });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  it('retries a 503 to a GET before masking, and never passes the 503 body through', async () => {
    const res = await call('/flaky', 'clerk');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.text).ssn, '***-**-6789');
  });

  it('masks every sensitive field for a role that reveals none, at any depth', async () => {
    const res = await call('/record', 'clerk');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.text), {
      name: 'Alice',
      ssn: '***-**-6789',
      payment: { cardNumber: '************1111' },
    });
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)));
    assert.equal(res.headers['etag'], undefined, 'the upstream etag describes other bytes');
  });

  it('reveals only what a role may see', async () => {
    const body = JSON.parse((await call('/record', 'auditor')).text);
    assert.equal(body.ssn, '123-45-6789');
    assert.equal(body.payment.cardNumber, '************1111');
  });

  it('fails closed on an answer it cannot mask', async () => {
    for (const path of ['/text', '/gzip']) {
      const res = await call(path, 'clerk');
      assert.equal(res.status, 502, path);
      assert.doesNotMatch(res.text, /6789|4111/, path);
    }
  });

  it('does not count an answer it cannot mask against the target: a client cannot open its breaker', async () => {
    // The upstream answered (200, as designed): refusing to pass it on says nothing about its health.
    // Counted as failures, a few such requests from one client opened the circuit for every caller.
    for (let i = 0; i < 8; i++) assert.equal((await call('/text', 'clerk')).status, 502);
    const res = await call('/record', 'auditor');
    assert.equal(res.status, 200);
  });
});
