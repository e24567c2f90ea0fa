/**
 * Issue 7, "Paths" and "Smuggling": every path variant and CL/TE variant from the issue, sent over a raw
 * socket. None may reach a route its policy forbids, and the upstream sees the canonical path the checks saw.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest, startGateway, statusOf, type TestGateway } from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let upstream: TestUpstream;
let gw: TestGateway;

before(async () => {
  upstream = await startUpstream();
  gw = await startGateway({
    format_version: '1',
    services: [{ name: 'svc', targets: [upstream.url] }],
    routes: [
      // Only 10.99/16 may reach /admin: loopback callers are forbidden there.
      {
        name: 'admin',
        service: 'svc',
        paths: ['/admin', '/admin/*'],
        ipAllow: ['10.99.0.0/16'],
        auth: { required: false },
      },
      {
        name: 'internal',
        service: 'svc',
        paths: ['/*'],
        hosts: ['internal.local'],
        ipAllow: ['10.99.0.0/16'],
        auth: { required: false },
      },
      { name: 'public', service: 'svc', paths: ['/public/*', '/*'], auth: { required: false } },
    ],
  });
});

after(async () => {
  await gw.close();
  await upstream.close();
});

const get = (target: string, host = 'localhost') =>
  rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

function upstreamSawAdmin(): boolean {
  return upstream.received.some((r) =>
    decodeURIComponent(r.url.split('?')[0] ?? '')
      .toLowerCase()
      .includes('admin'),
  );
}

describe('path variants never reach a forbidden route', () => {
  const variants: [string, number][] = [
    ['/admin', 403],
    ['/public/../admin', 403],
    ['//admin', 403],
    ['/%61dmin', 403],
    ['/./admin', 403],
    ['/public/%2e%2e/admin', 403],
    ['/public/%2E%2E/admin/x', 403],
    ['/public/.%2e/admin', 403],
    ['/admin%2f', 400],
    ['/admin%2F..', 400],
    ['/admin%5c', 400],
    ['/public/..%5cadmin', 400],
    ['/admin;x', 400],
    ['/admin%3bx', 400],
    ['/admin#x', 400],
    ['/public/%252e%252e/admin', 400],
    ['/public/%25%32%65%25%32%65/admin', 400],
    ['/admin%00', 400],
    ['/admin%0d%0aX-Injected:%201', 400],
    ['/%ff%fe', 400],
    ['/admin\\x', 400],
    ['http://localhost/admin', 400],
    ['/admin%zz', 400],
  ];
  for (const [target, status] of variants) {
    test(`GET ${target} is answered ${status} and the upstream never sees /admin`, async () => {
      upstream.received.length = 0;
      const raw = await get(target);
      assert.equal(statusOf(raw), status, raw.slice(0, 200));
      assert.equal(upstreamSawAdmin(), false);
    });
  }

  test('a Host header with trailing whitespace or a trailing dot still meets the host-bound policy', async () => {
    for (const host of [
      'internal.local ',
      'internal.local\t',
      'INTERNAL.local',
      'internal.local.',
      'internal.local:80',
    ]) {
      upstream.received.length = 0;
      const raw = await get('/anything', host);
      assert.equal(statusOf(raw), 403, `host ${JSON.stringify(host)}: ${raw.slice(0, 100)}`);
      assert.equal(upstream.received.length, 0);
    }
  });

  test('a malformed, repeated or missing Host is refused', async () => {
    for (const headers of [
      'Host: internal.local x',
      'Host: a@internal.local',
      'Host: a\r\nHost: b',
      'X-No-Host: 1',
    ]) {
      const raw = await rawRequest(gw.port, `GET /x HTTP/1.1\r\n${headers}\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(raw), 400, `${JSON.stringify(headers)}: ${raw.slice(0, 100)}`);
    }
  });
});

describe('the upstream sees the canonical path the checks saw', () => {
  const cases: [string, string][] = [
    ['/public/./a/../b', '/public/b'],
    ['/public//b///c', '/public/b/c'],
    ['/public/%7euser/%E2%82%AC', '/public/~user/%E2%82%AC'],
    ['/public/b?x=%2f&y=1', '/public/b?x=%2f&y=1'],
    ['/public/a%20b', '/public/a%20b'],
  ];
  for (const [sent, seen] of cases) {
    test(`${sent} arrives upstream as ${seen}`, async () => {
      upstream.received.length = 0;
      const raw = await get(sent);
      assert.equal(statusOf(raw), 200, raw.slice(0, 200));
      assert.equal(upstream.received.at(-1)?.url, seen);
    });
  }
});

describe('request smuggling variants are refused before any upstream call', () => {
  const smuggled = 'GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n';
  const variants: [string, string][] = [
    [
      'CL and TE together',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE and CL together',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'duplicate equal CL',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n${smuggled}`,
    ],
    [
      'duplicate different CL',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n${smuggled}`,
    ],
    [
      'duplicate TE',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE list',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE obfuscated',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE with obs-fold',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    ['obs-fold in a header', `GET /public/x HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n`],
    [
      'whitespace before the colon',
      `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length : 40\r\n\r\n${smuggled}`,
    ],
    ['NUL in a value', `GET /public/x HTTP/1.1\r\nHost: localhost\r\nX-A: a\u0000b\r\n\r\n`],
    ['bare CR in a value', `GET /public/x HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n`],
    ['bare LF line ending', `GET /public/x HTTP/1.1\nHost: localhost\nX-A: a\n\n`],
    ['signed CL', `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: +4\r\n\r\nabcd`],
    ['CL list', `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4, 4\r\n\r\nabcd`],
    [
      'HTTP/1.0 with TE',
      `POST /public/x HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
    ],
  ];
  for (const [name, payload] of variants) {
    test(`${name} is refused with 400 and nothing reaches the upstream`, async () => {
      upstream.received.length = 0;
      const raw = await rawRequest(gw.port, payload);
      assert.equal(statusOf(raw), 400, `${name}: ${JSON.stringify(raw.slice(0, 120))}`);
      // Give a smuggled second request time to arrive, if it were going to.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(
        upstream.received.map((r) => r.url),
        [],
      );
    });
  }

  test('an oversize header block is refused with 431', async () => {
    const raw = await rawRequest(
      gw.port,
      `GET /public/x HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 431);
  });

  test('more headers than the limit are refused, not silently cut', async () => {
    const many = Array.from({ length: 120 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const raw = await rawRequest(
      gw.port,
      `GET /public/x HTTP/1.1\r\nHost: localhost\r\n${many}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 400);
  });
});

describe('hop-by-hop and identity headers', () => {
  test('Connection-named headers, hop-by-hop fields and client x-bulwark-* copies are not forwarded', async () => {
    upstream.received.length = 0;
    const raw = await rawRequest(
      gw.port,
      'GET /public/h HTTP/1.1\r\nHost: localhost\r\nConnection: close, x-secret-hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n' +
        'Proxy-Authorization: Basic eA==\r\nUpgrade: websocket\r\nX-Bulwark-Subject: admin\r\nX-Bulwark-Identity: forged\r\n' +
        'X-Forwarded-For: 1.2.3.4\r\nX-Kept: yes\r\n\r\n',
    );
    assert.equal(statusOf(raw), 200);
    const seen = upstream.received[0]?.headers ?? {};
    for (const h of [
      'x-secret-hop',
      'keep-alive',
      'proxy-authorization',
      'upgrade',
      'x-bulwark-subject',
      'x-bulwark-identity',
    ]) {
      assert.equal(seen[h], undefined, h);
    }
    assert.equal(seen['x-kept'], 'yes');
    // Not a trusted proxy: the spoofed X-Forwarded-For is replaced by the real peer.
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  });

  test('a header named like an Object member (constructor, toString) is forwarded as sent', async () => {
    // The header map was a plain object: `constructor` found Object's own function and was forwarded as
    // "function Object() { [native code] }, 1". (`__proto__` went through the prototype setter; node's
    // own header map, in the recording upstream, drops it the same way, so it is not checked here.)
    upstream.received.length = 0;
    const raw = await rawRequest(
      gw.port,
      'GET /public/h HTTP/1.1\r\nHost: localhost\r\nConstructor: 1\r\n__proto__: 2\r\nToString: 3\r\nConnection: close\r\n\r\n',
    );
    assert.equal(statusOf(raw), 200);
    const seen = upstream.received[0]?.headers ?? {};
    assert.equal(seen['constructor'], '1');
    assert.equal(seen['tostring'], '3');
  });

  test('responses carry security headers and no upstream banner', async () => {
    const raw = await get('/public/banner');
    assert.equal(statusOf(raw), 200);
    const lower = raw.toLowerCase();
    assert.ok(lower.includes('x-content-type-options: nosniff'));
    assert.ok(lower.includes('x-frame-options: deny'));
    assert.ok(!lower.includes('upstream-banner'));
    assert.ok(!lower.includes('x-powered-by'));
  });
});
