/** Issue 7, "Authorization": the embedded Cedar engine per route, with shadow mode, and IP filtering. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import type { SourceFile } from '../../src/core/policy-engine/index.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import {
  issuerConfig,
  rawRequest,
  startGateway,
  statusOf,
  type TestGateway,
  tempHome,
} from './fixtures/harness.ts';
import { startIssuer, type TestIssuer } from './fixtures/issuer.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

const POLICIES: SourceFile[] = [
  {
    file: 'gateway.cedar',
    text: `
@id("clerks-read-orders")
permit (principal in Bulwark::Role::"clerk", action == Bulwark::Action::"read", resource == Bulwark::Route::"orders");

@id("admins-do-anything")
permit (principal in Bulwark::Role::"admin", action in Bulwark::Action::"access", resource);

@id("editors-write-notes")
permit (principal in Bulwark::Role::"editor", action == Bulwark::Action::"write", resource == Bulwark::Route::"notes");

@id("same-tenant-only")
forbid (principal is Bulwark::User, action, resource is Bulwark::Route) unless { principal.tenant == resource.tenant };
`,
  },
];

let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;

before(async () => {
  issuer = await startIssuer(tempHome());
  upstream = await startUpstream();
  const routes: RouteDocument = {
    format_version: '1',
    services: [{ name: 'svc', targets: [upstream.url] }],
    routes: [
      {
        name: 'orders',
        service: 'svc',
        paths: ['/orders'],
        methods: ['GET', 'POST'],
        authorize: { tenant: 'acme' },
      },
      { name: 'reports', service: 'svc', paths: ['/reports'], authorize: { tenant: 'acme', shadow: true } },
      {
        name: 'open',
        service: 'svc',
        paths: ['/open'],
        auth: { required: false },
        authorize: { tenant: 'acme' },
      },
      {
        name: 'office',
        service: 'svc',
        paths: ['/office'],
        auth: { required: false },
        ipAllow: ['10.1.0.0/16', 'fd00::/8'],
        ipDeny: ['10.1.9.0/24'],
      },
      { name: 'files', service: 'svc', paths: ['/files/*'], authorize: { tenant: 'acme' } },
    ],
  };
  gw = await startGateway(routes, {
    issuers: [issuerConfig(issuer.issuer)],
    jwksDispatcher: issuer.dispatcher,
    policies: POLICIES,
    trustedProxies: ['127.0.0.1/32', '10.0.0.5'],
  });
});

after(async () => {
  await gw.close();
  await upstream.close();
  await issuer.close();
});

async function call(path: string, method: string, token?: string): Promise<number> {
  const res = await request(`${gw.url}${path}`, {
    method: method as 'GET',
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    ...(method === 'POST' ? { body: '{}' } : {}),
  });
  await res.body.dump();
  return res.statusCode;
}

describe('Cedar authorization per route', () => {
  test('a started gateway has rehearsed one decision, and neither cached nor audited it', () => {
    // Runs first: no request has reached the gateway yet.
    const stats = gw.gateway.runtime.engine.cacheStats;
    assert.equal(stats.misses, 1, 'the engine ran once at start, so the first caller does not pay for it');
    assert.equal(stats.size, 0);
    assert.equal(gw.audit.events.length, 0);
  });

  test('a clerk may read orders but not write them', async () => {
    const token = await issuer.sign({ roles: ['clerk'], tenant: 'acme' });
    assert.equal(await call('/orders', 'GET', token), 200);
    assert.equal(await call('/orders', 'POST', token), 403);
    assert.equal(gw.audit.events.at(-1)?.reason, 'policy_deny');
  });

  test('an admin may write, but not across tenants (forbid wins)', async () => {
    assert.equal(await call('/orders', 'POST', await issuer.sign({ roles: ['admin'], tenant: 'acme' })), 200);
    assert.equal(
      await call('/orders', 'POST', await issuer.sign({ roles: ['admin'], tenant: 'globex' })),
      403,
    );
  });

  test('a caller with no role is denied, and an anonymous caller never reaches a policy-guarded route', async () => {
    assert.equal(await call('/orders', 'GET', await issuer.sign({ tenant: 'acme' })), 403);
    assert.equal(await call('/open', 'GET'), 403);
  });

  test('a long path costs the decision cache a bounded key, and is still decided once', async () => {
    // The key held the whole path: 50,000 entries of 16 KiB paths (any caller with a token, one request
    // each) kept ~800 MB in the gateway until the cache was cleared, and filled it again.
    const token = await issuer.sign({ roles: ['admin'], tenant: 'acme' });
    const path = `/files/${'a'.repeat(12_000)}`;
    const decisions = gw.gateway.runtime.decisions;
    assert.equal(await call(path, 'GET', token), 200);
    const size = decisions.size;
    const longest = Math.max(...[...decisions.keys()].map((k) => k.length));
    assert.ok(longest < 1024, `a decision key of ${longest} characters`);
    assert.equal(await call(path, 'GET', token), 200);
    assert.equal(decisions.size, size, 'the same request hits the cache');
    assert.equal(
      await call(
        `/files/${'b'.repeat(12_000)}`,
        'GET',
        await issuer.sign({ roles: ['clerk'], tenant: 'acme' }),
      ),
      403,
    );
  });

  test('shadow mode lets a would-be denial through, audits it and counts it', async () => {
    const before = gw.audit.events.length;
    assert.equal(await call('/reports', 'GET', await issuer.sign({ roles: ['clerk'], tenant: 'acme' })), 200);
    const event = gw.audit.events.slice(before).find((e) => e.action === 'gateway.authorize.shadow_deny');
    assert.ok(event, 'shadow denial audited');
    const metrics = await gw.gateway.runtime.metrics.registry.metrics();
    assert.match(
      metrics,
      /bulwark_gateway_security_denials_total\{reason="authz_shadow",route="reports"\} 1/,
    );
  });
});

describe('IP filtering', () => {
  const from = (xff: string | undefined) =>
    rawRequest(
      gw.port,
      `GET /office HTTP/1.1\r\nHost: localhost\r\n${xff === undefined ? '' : `X-Forwarded-For: ${xff}\r\n`}Connection: close\r\n\r\n`,
    ).then(statusOf);

  test('the allow list is applied to the client address from a trusted proxy chain, read from the right', async () => {
    // The peer (127.0.0.1) is a trusted proxy and so is 10.0.0.5: the client is 10.1.2.3.
    assert.equal(await from('10.1.2.3, 10.0.0.5'), 200);
    assert.equal(await from('10.1.2.3'), 200);
  });

  test('a spoofed left-most X-Forwarded-For entry does not dodge the allow list', async () => {
    // The client wrote "10.1.2.3" itself; the last untrusted hop (203.0.113.9) is the real client.
    assert.equal(await from('10.1.2.3, 203.0.113.9'), 403);
    assert.equal(await from('10.1.2.3, 203.0.113.9, 10.0.0.5'), 403);
    assert.equal(await from('garbage, 203.0.113.9'), 403);
  });

  test('the deny list wins inside an allowed range, and IPv6 CIDRs work', async () => {
    assert.equal(await from('10.1.9.7'), 403);
    assert.equal(await from('fd12::1'), 200);
    assert.equal(await from('2001:db8::1'), 403);
  });

  test('a proxy that appends the client port (ip:port, [ipv6]:port) still names the client, not itself', async () => {
    // Azure Application Gateway and others write `203.0.113.9:51234`. That entry was not read as an
    // address, so the client became the proxy itself: with the proxy inside the allowed range, everyone
    // was let in (and every client shared the proxy's rate limits).
    const behind = await startGateway(
      {
        format_version: '1',
        services: [{ name: 'svc', targets: [upstream.url] }],
        routes: [
          {
            name: 'office',
            service: 'svc',
            paths: ['/office'],
            auth: { required: false },
            ipAllow: ['10.1.0.0/16', 'fd00::/8'],
          },
        ],
      },
      { trustedProxies: ['127.0.0.1', '10.1.0.5'] },
    );
    const via = (xff: string) =>
      rawRequest(
        behind.port,
        `GET /office HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: ${xff}\r\nConnection: close\r\n\r\n`,
      ).then(statusOf);
    try {
      assert.equal(await via('203.0.113.9:51234, 10.1.0.5'), 403);
      assert.equal(await via('[2001:db8::1]:443, 10.1.0.5'), 403);
      assert.equal(await via('10.1.2.3:51234, 10.1.0.5'), 200);
      assert.equal(await via('[fd12::1]:443'), 200);
      // Other spellings of an IPv4-mapped address name the same IPv4 client (not one IPv6 /64 that every
      // such client would share for per-IP limits).
      for (const mapped of ['::FFFF:10.1.2.3', '::ffff:a01:203', '0:0:0:0:0:ffff:0a01:0203']) {
        assert.equal(await via(`${mapped}, 10.1.0.5`), 200, mapped);
        assert.equal(upstream.received.at(-1)?.headers['x-forwarded-for'], '10.1.2.3', mapped);
      }
      assert.equal(await via('::ffff:cb00:7109, 10.1.0.5'), 403);
    } finally {
      await behind.close();
    }
  });

  test('X-Forwarded-For from an untrusted peer is ignored', async () => {
    const strict = await startGateway(
      {
        format_version: '1',
        services: [{ name: 'svc', targets: [upstream.url] }],
        routes: [
          {
            name: 'office',
            service: 'svc',
            paths: ['/office'],
            auth: { required: false },
            ipAllow: ['10.1.0.0/16'],
          },
        ],
      },
      { trustedProxies: ['10.0.0.5'] },
    );
    try {
      const raw = await rawRequest(
        strict.port,
        'GET /office HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n',
      );
      assert.equal(statusOf(raw), 403);
    } finally {
      await strict.close();
    }
  });
});

describe('methods over HTTP/2', () => {
  test('a method HTTP/1.1 cannot carry (lower-case `delete`) is refused, not authorised as a write', async () => {
    // HTTP/2 takes any token as :method; HTTP/1.1's parser knows only the registered, upper-case ones.
    // `delete` was not DELETE to the policy (it became the action "write", which editors hold), while an
    // upstream that upper-cases methods (Werkzeug/Flask does) deleted.
    const lines: string[] = [];
    const raw = createServer((socket) => {
      socket.once('data', (d) => {
        lines.push(d.toString('latin1').split('\r\n')[0] as string);
        socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      });
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const h2c = await startGateway(
      {
        format_version: '1',
        services: [{ name: 'svc', targets: [`http://127.0.0.1:${(raw.address() as AddressInfo).port}`] }],
        routes: [{ name: 'notes', service: 'svc', paths: ['/notes/:id'], authorize: { tenant: 'acme' } }],
      },
      {
        h2c: true,
        issuers: [issuerConfig(issuer.issuer)],
        jwksDispatcher: issuer.dispatcher,
        policies: POLICIES,
      },
    );
    const session = http2.connect(`http://localhost:${h2c.port}`);
    session.on('error', () => undefined);
    const token = await issuer.sign({ roles: ['editor'], tenant: 'acme' });
    const send = (method: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request(
          { ':method': method, ':path': '/notes/7', authorization: `Bearer ${token}` },
          { endStream: true },
        );
        let status = 0;
        let body = '';
        req.on('response', (h) => {
          status = Number(h[':status']);
        });
        req.on('data', (d) => {
          body += d;
        });
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
      });
    try {
      assert.equal((await send('DELETE')).status, 403, 'the control: editors may not delete');
      const r = await send('delete');
      assert.equal(r.status, 400, r.body);
      assert.equal(JSON.parse(r.body).code, 'gateway_bad_request');
      assert.equal((await send('PUT')).status, 200);
      assert.deepEqual(lines, ['PUT /notes/7 HTTP/1.1']);
    } finally {
      session.close();
      await h2c.close();
      raw.close();
    }
  });
});
