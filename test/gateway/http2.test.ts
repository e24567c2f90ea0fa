/**
 * Issue 7, HTTP/2 on the TLS listener (ALPN) and without TLS by prior knowledge (h2c, `h2c: true`): the
 * same canonical request and checks as HTTP/1.1, pseudo-header Host handling, and the rapid-reset flood
 * (CVE-2023-44487) leaving the gateway serving others. On the h2c port, HTTP/1.1 keeps its strict parser
 * and deadlines, a connection that never says which protocol it speaks is closed, and `Upgrade: h2c`
 * is not honoured.
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as tls from 'node:tls';
import { Agent, request } from 'undici';
import { localServerCredentials } from '../../src/core/index.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { waitFor } from '../fixtures/wait.ts';
import {
  rawRequest,
  slowloris,
  startGateway,
  statusOf,
  type TestGateway,
  tempHome,
} from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let upstream: TestUpstream;
let tlsGateway: TestGateway;
let h2cGateway: TestGateway;
let ca: string;

const routes = (): RouteDocument => ({
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
});

before(async () => {
  const creds = await localServerCredentials(tempHome(), 'gateway');
  ca = creds.ca;
  upstream = await startUpstream();
  tlsGateway = await startGateway(routes(), {
    tls: { cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' },
  });
  h2cGateway = await startGateway(routes(), {
    h2c: true,
    limits: { headersTimeoutMs: 600, requestTimeoutMs: 600 },
  });
});

after(async () => {
  await tlsGateway.close();
  await h2cGateway.close();
  await upstream.close();
});

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

for (const transport of ['TLS', 'h2c'] as const) {
  describe(`HTTP/2 over ${transport}`, () => {
    const gw = () => (transport === 'TLS' ? tlsGateway : h2cGateway);
    const base = () => `${transport === 'TLS' ? 'https' : 'http'}://localhost:${gw().port}`;
    function h2(): http2.ClientHttp2Session {
      const session = http2.connect(base(), { ca });
      session.on('error', () => undefined);
      return session;
    }

    test('a request over h2 is proxied with the canonical path, and HTTP/1.1 still works on the same port', async () => {
      const session = h2();
      try {
        upstream.received.length = 0;
        const r = await exchange(session, { ':path': '/public/./a/../b', ':method': 'GET' });
        assert.equal(r.status, 200, r.text);
        assert.equal(upstream.received[0]?.url, '/public/b');
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        if (transport === 'TLS') {
          assert.match(String(r.headers['strict-transport-security']), /max-age=/);
          assert.equal(session.alpnProtocol, 'h2');
        } else {
          // HSTS means nothing over cleartext (RFC 6797 §7.2); the session is h2c, not a downgrade.
          assert.equal(r.headers['strict-transport-security'], undefined);
          assert.equal(session.alpnProtocol, 'h2c');
        }
      } finally {
        session.close();
      }
      const agent = new Agent({ connect: { ca } });
      const h1 = await request(`${base()}/public/x`, { dispatcher: agent });
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
      const metrics = await gw().gateway.runtime.metrics.registry.metrics();
      assert.match(
        metrics,
        /bulwark_gateway_security_denials_total\{reason="parse",route="unmatched"\} [1-9]/,
      );
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
}

describe('the h2c port from the attacker side', () => {
  test('HTTP/1.1 on it keeps the strict parser: CL+TE is refused and nothing is smuggled', async () => {
    upstream.received.length = 0;
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n';
    const raw = await rawRequest(
      h2cGateway.port,
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    );
    assert.equal(statusOf(raw), 400);
    assert.equal(upstream.received.length, 0);
  });

  test('a slowloris client speaking HTTP/1.1 is cut off by the header deadline', async () => {
    const { elapsedMs, data } = await slowloris(h2cGateway.port, '/public/x');
    assert.ok(elapsedMs < 4000, `closed after ${elapsedMs} ms`);
    assert.ok(data === '' || statusOf(data) === 408, data);
  });

  test('a connection that sends nothing, or stops inside the HTTP/2 preface, is closed', async () => {
    for (const opening of ['', 'PRI * HTTP/2.0\r\n']) {
      const started = Date.now();
      const socket = connect(h2cGateway.port, '127.0.0.1');
      socket.on('error', () => undefined);
      if (opening) socket.write(opening);
      await new Promise((resolve) => socket.on('close', resolve));
      const waited = Date.now() - started;
      assert.ok(waited >= 500 && waited < 4000, `${JSON.stringify(opening)}: closed after ${waited} ms`);
    }
  });

  test('`Upgrade: h2c` is not honoured: the request is answered over HTTP/1.1 and the upgrade never reaches the upstream', async () => {
    upstream.received.length = 0;
    const raw = await rawRequest(
      h2cGateway.port,
      'GET /public/up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    assert.equal(statusOf(raw), 200, raw);
    assert.equal(upstream.received.length, 1);
    assert.equal(upstream.received[0]?.headers['upgrade'], undefined);
    assert.equal(upstream.received[0]?.headers['http2-settings'], undefined);
  });

  test('without `h2c` the cleartext port speaks HTTP/1.1 only: an HTTP/2 preface is a parse error', async () => {
    const plain = await startGateway(routes());
    try {
      const raw = await rawRequest(plain.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      assert.equal(statusOf(raw), 400);
    } finally {
      await plain.close();
    }
  });
});

describe('HTTP/2 clients that stop reading', () => {
  // The client preface and an empty SETTINGS frame: a session opens, then the client reads nothing more.
  const OPENING = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00';
  const connections = (gw: TestGateway) =>
    new Promise<number>((resolve, reject) =>
      gw.gateway.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );

  for (const transport of ['TLS', 'h2c'] as const) {
    const start = async (): Promise<{ gw: TestGateway; client: Socket }> => {
      const creds = transport === 'TLS' ? await localServerCredentials(tempHome(), 'gateway') : undefined;
      const limits = { headersTimeoutMs: 600, requestTimeoutMs: 600 };
      const gw = await startGateway(
        routes(),
        creds
          ? { tls: { cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' }, limits }
          : { h2c: true, limits },
      );
      const client = creds
        ? tls.connect({
            port: gw.port,
            host: '127.0.0.1',
            ca: creds.ca,
            ALPNProtocols: ['h2'],
            servername: 'localhost',
          })
        : connect(gw.port, '127.0.0.1');
      client.on('error', () => undefined);
      await new Promise((r) => client.once(creds ? 'secureConnect' : 'connect', r));
      client.write(OPENING, 'latin1');
      client.pause();
      await new Promise((r) => setTimeout(r, 200));
      return { gw, client };
    };

    test(`over ${transport}: an idle session is cut off after the request deadline, connection and all`, async () => {
      const { gw, client } = await start();
      try {
        assert.equal(await connections(gw), 1);
        await waitFor(async () => (await connections(gw)) === 0, 'the connection cut', 4_000);
      } finally {
        client.destroy();
        await gw.close();
      }
    });

    test(`over ${transport}: closing the gateway ends within its grace`, async () => {
      const { gw, client } = await start();
      try {
        const started = Date.now();
        const closed = await Promise.race([
          gw.gateway.close(300).then(() => true),
          new Promise<false>((r) => setTimeout(() => r(false), 3_000)),
        ]);
        assert.ok(closed && Date.now() - started < 1_500, `still open after ${Date.now() - started} ms`);
      } finally {
        client.destroy();
      }
    });
  }
});
