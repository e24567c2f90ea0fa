/**
 * Issue 7, HTTP/2 on the TLS listener: the same canonical request and checks as HTTP/1.1, pseudo-header
 * Host handling, and the rapid-reset flood (CVE-2023-44487) leaving the gateway serving others.
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { localServerCredentials } from '../../src/core/index.ts';
import { startGateway, type TestGateway, tempHome } from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let upstream: TestUpstream;
let gw: TestGateway;
let ca: string;

before(async () => {
  const creds = await localServerCredentials(tempHome(), 'gateway');
  ca = creds.ca;
  upstream = await startUpstream();
  gw = await startGateway(
    {
      format_version: '1',
      services: [{ name: 'svc', targets: [upstream.url] }],
      routes: [
        {
          name: 'admin',
          service: 'svc',
          paths: ['/admin', '/admin/*'],
          ipAllow: ['10.99.0.0/16'],
          auth: { required: false },
        },
        {
          name: 'public',
          service: 'svc',
          paths: ['/public/*'],
          auth: { required: false },
          validate: {
            body: { type: 'object', additionalProperties: false, properties: { a: { type: 'integer' } } },
          },
        },
      ],
    },
    { tls: { cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' } },
  );
});

after(async () => {
  await gw.close();
  await upstream.close();
});

function h2(): http2.ClientHttp2Session {
  const session = http2.connect(`https://localhost:${gw.port}`, { ca });
  session.on('error', () => undefined);
  return session;
}

function exchange(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ status: number; text: string; headers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let text = '';
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      head = h;
    });
    req.on('data', (d) => {
      text += d;
    });
    req.on('end', () => resolve({ status: Number(head[':status']), text, headers: head }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2', () => {
  test('a request over h2 is proxied with the canonical path, and HTTP/1.1 still works on the same port', async () => {
    const session = h2();
    try {
      upstream.received.length = 0;
      const r = await exchange(session, { ':path': '/public/./a/../b', ':method': 'GET' });
      assert.equal(r.status, 200, r.text);
      assert.equal(upstream.received[0]?.url, '/public/b');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.match(String(r.headers['strict-transport-security']), /max-age=/);
      assert.equal(session.alpnProtocol, 'h2');
    } finally {
      session.close();
    }
    const agent = new Agent({ connect: { ca } });
    const h1 = await request(`https://localhost:${gw.port}/public/x`, { dispatcher: agent });
    await h1.body.dump();
    assert.equal(h1.statusCode, 200);
    await agent.close();
  });

  test('path attacks over h2 meet the same checks', async () => {
    const session = h2();
    try {
      upstream.received.length = 0;
      for (const [path, status] of [
        ['/public/../admin', 403],
        ['/public/%2e%2e/admin', 403],
        ['/admin%2f', 400],
        ['/admin;x', 400],
      ] as const) {
        const r = await exchange(session, { ':path': path, ':method': 'GET' });
        assert.equal(r.status, status, path);
      }
      assert.equal(upstream.received.length, 0);
    } finally {
      session.close();
    }
  });

  test('a body sent in DATA frames without content-length is validated and forwarded', async () => {
    const session = h2();
    try {
      upstream.received.length = 0;
      const ok = await exchange(
        session,
        { ':path': '/public/p', ':method': 'POST', 'content-type': 'application/json' },
        '{"a":1}',
      );
      assert.equal(ok.status, 200);
      assert.equal(upstream.received[0]?.body, '{"a":1}');
      const bad = await exchange(
        session,
        { ':path': '/public/p', ':method': 'POST' },
        '{"a":1,"admin":true}',
      );
      assert.equal(bad.status, 400);
      assert.equal(JSON.parse(bad.text).field, 'body/admin');
    } finally {
      session.close();
    }
  });

  test('a rapid-reset flood does not stop the gateway serving other clients', async () => {
    upstream.received.length = 0;
    const attacker = h2();
    const closed = new Promise<void>((resolve) => {
      attacker.on('goaway', () => resolve());
      attacker.on('close', () => resolve());
    });
    await new Promise<void>((resolve) => attacker.once('connect', () => resolve()));
    for (let i = 0; i < 5000 && !attacker.destroyed && !attacker.closed; i++) {
      try {
        const req = attacker.request({ ':path': '/public/flood', ':method': 'GET' });
        req.on('error', () => undefined);
        req.close(http2.constants.NGHTTP2_CANCEL);
      } catch {
        break;
      }
    }
    const cut = await Promise.race([
      closed.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 3000)),
    ]);
    attacker.destroy();
    assert.equal(cut, true, 'the flooding session was closed by the gateway');
    // Reset streams cost no upstream call once the client is gone.
    assert.ok(upstream.received.filter((r) => r.url === '/public/flood').length < 200);
    const metrics = await gw.gateway.runtime.metrics.registry.metrics();
    assert.match(metrics, /bulwark_gateway_security_denials_total\{reason="parse",route="unmatched"\} [1-9]/);
    const session = h2();
    try {
      const started = Date.now();
      const r = await exchange(session, { ':path': '/public/after', ':method': 'GET' });
      assert.equal(r.status, 200);
      assert.ok(Date.now() - started < 2000);
    } finally {
      session.close();
    }
  });
});
