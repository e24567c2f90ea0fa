/**
 * Issue 7, item 5: opaque access tokens by cached RFC 7662 introspection, against a real HTTPS
 * introspection server on loopback (certificate from core's local CA). An inactive (revoked) token is
 * refused, answers are cached by token hash until `exp` or the max TTL, inactive answers briefly, and the
 * token never appears in the logs or the audit trail.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { createLogger, localServerCredentials, ManualClock } from '../../src/core/index.ts';
import { IntrospectionRefused, TokenIntrospector } from '../../src/gateway/auth/token-introspection.ts';
import { dripForever } from './fixtures/drip.ts';
import { issuerConfig, simpleRoutes, startGateway, type TestGateway, tempHome } from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

const CLIENT_ID = 'bulwark gateway';
const CLIENT_SECRET = 's3cret:with&odd=chars';
const ACTIVE = 'opaque-active-7f3c9a1d2e';
const REVOKED = 'opaque-revoked-0b8e44c1';

interface AuthServer {
  url: string;
  calls: number;
  /** token -> RFC 7662 answer */
  answers: Map<string, Record<string, unknown>>;
  dispatcher: Agent;
  close(): Promise<void>;
}

async function startAuthServer(home: string): Promise<AuthServer> {
  const creds = await localServerCredentials(home, 'test-introspection');
  const state = { calls: 0, answers: new Map<string, Record<string, unknown>>() };
  const expected = `Basic ${Buffer.from(
    `${encodeURIComponent(CLIENT_ID).replace(/%20/g, '+')}:${encodeURIComponent(CLIENT_SECRET)}`,
  ).toString('base64')}`;
  const server = https.createServer({ cert: creds.cert, key: creds.key }, async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.method !== 'POST' || req.url !== '/introspect') return void res.writeHead(404).end();
    // RFC 7662 §2.1: the endpoint authenticates its caller.
    if (req.headers.authorization !== expected) return void res.writeHead(401).end();
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded')
      return void res.writeHead(400).end();
    state.calls++;
    const token = new URLSearchParams(body).get('token') ?? '';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.answers.get(token) ?? { active: false }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dispatcher = new Agent({ connect: { ca: creds.ca } });
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get calls() {
      return state.calls;
    },
    set calls(v: number) {
      state.calls = v;
    },
    answers: state.answers,
    dispatcher,
    async close() {
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let auth: AuthServer;
let upstream: TestUpstream;
let gw: TestGateway;
let clock: ManualClock;
let logged = '';

function activeAnswer(sub: string, lifetimeSeconds: number, extra: Record<string, unknown> = {}) {
  return {
    active: true,
    iss: auth.url,
    sub,
    client_id: 'web',
    aud: 'orders',
    scope: 'orders.read',
    roles: ['clerk'],
    tenant: 't1',
    exp: Math.floor(clock.now() / 1000) + lifetimeSeconds,
    ...extra,
  };
}

before(async () => {
  auth = await startAuthServer(tempHome());
  upstream = await startUpstream();
  clock = new ManualClock();
  const logger = createLogger({
    level: 'debug',
    component: 'gateway',
    destination: new Writable({
      write(chunk, _enc, done) {
        logged += chunk.toString();
        done();
      },
    }),
  });
  gw = await startGateway(
    simpleRoutes(upstream.url, [
      { name: 'orders', service: 'svc', paths: ['/orders'], auth: { audience: 'orders' } },
      { name: 'payments', service: 'svc', paths: ['/payments'], auth: { audience: 'payments' } },
    ]),
    {
      clock,
      logger,
      jwksDispatcher: auth.dispatcher,
      issuers: [
        issuerConfig(auth.url, {
          introspection: {
            endpoint: `${auth.url}/introspect`,
            clientId: CLIENT_ID,
            clientSecret: CLIENT_SECRET,
            cacheSeconds: 60,
            negativeCacheSeconds: 5,
          },
        }),
      ],
    },
  );
});

after(async () => {
  await gw.close();
  await upstream.close();
  await auth.close();
});

beforeEach(() => {
  auth.answers.clear();
  auth.calls = 0;
  upstream.received.length = 0;
});

async function call(path: string, token: string) {
  const res = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  await res.body.dump();
  return res;
}

describe('opaque tokens by introspection', () => {
  test('an active opaque token is accepted, its caller goes upstream, and the answer is reused from the cache', async () => {
    const token = `${ACTIVE}-a`;
    auth.answers.set(token, activeAnswer('alice', 600));
    assert.equal((await call('/orders', token)).statusCode, 200);
    assert.equal(upstream.received[0]?.headers['x-bulwark-subject'], 'alice');
    assert.equal(upstream.received[0]?.headers['authorization'], undefined, 'the token never goes upstream');
    for (let i = 0; i < 5; i++) assert.equal((await call('/orders', token)).statusCode, 200);
    assert.equal(auth.calls, 1);
  });

  test('a revoked token (active:false) is refused, and the refusal is cached only briefly', async () => {
    auth.answers.set(REVOKED, { active: false });
    const res = await call('/orders', REVOKED);
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.equal((await call('/orders', REVOKED)).statusCode, 401);
    assert.equal(auth.calls, 1, 'the negative answer is cached');
    clock.advance(6_000); // past negativeCacheSeconds
    assert.equal((await call('/orders', REVOKED)).statusCode, 401);
    assert.equal(auth.calls, 2, 'and asked again once it expires');
  });

  test('a token revoked at the issuer is refused once the cached answer expires (cacheSeconds)', async () => {
    const token = `${ACTIVE}-b`;
    auth.answers.set(token, activeAnswer('bob', 3600));
    assert.equal((await call('/orders', token)).statusCode, 200);
    auth.answers.set(token, { active: false });
    clock.advance(30_000);
    assert.equal((await call('/orders', token)).statusCode, 200, 'still within the 60 s cache');
    clock.advance(31_000);
    assert.equal((await call('/orders', token)).statusCode, 401);
    assert.equal(auth.calls, 2);
  });

  test('a cached answer never outlives the token exp', async () => {
    const token = `${ACTIVE}-c`;
    auth.answers.set(token, activeAnswer('carol', 10));
    assert.equal((await call('/orders', token)).statusCode, 200);
    clock.advance(11_000 + 30_000); // past exp and the clock skew, well within cacheSeconds
    assert.equal((await call('/orders', token)).statusCode, 401);
  });

  test('an active token for another audience, or from another issuer, is refused', async () => {
    auth.answers.set(`${ACTIVE}-d`, activeAnswer('dave', 600));
    assert.equal((await call('/payments', `${ACTIVE}-d`)).statusCode, 401, 'replayed at another service');
    auth.answers.set(`${ACTIVE}-e`, activeAnswer('eve', 600, { aud: 'billing' }));
    assert.equal((await call('/orders', `${ACTIVE}-e`)).statusCode, 401, 'aud outside the issuer audiences');
    auth.answers.set(`${ACTIVE}-f`, activeAnswer('frank', 600, { iss: 'https://evil.example' }));
    assert.equal((await call('/orders', `${ACTIVE}-f`)).statusCode, 401, 'foreign iss');
    auth.answers.set(`${ACTIVE}-g`, activeAnswer('grace', 600, { active: 'true' }));
    assert.equal((await call('/orders', `${ACTIVE}-g`)).statusCode, 401, '"active" must be boolean true');
    assert.equal(upstream.received.length, 0);
  });

  test('a JWT-shaped token is verified locally and never sent to the introspection endpoint', async () => {
    assert.equal((await call('/orders', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')).statusCode, 401);
    assert.equal(auth.calls, 0);
  });

  test('the token appears neither in the logs nor in the audit trail', async () => {
    const token = `${ACTIVE}-secret-h`;
    auth.answers.set(token, activeAnswer('heidi', 600));
    await call('/orders', token);
    await call('/orders', REVOKED);
    assert.ok(gw.audit.events.length > 0, 'the denial was audited');
    assert.ok(!logged.includes(token) && !logged.includes(REVOKED));
    const audit = JSON.stringify(gw.audit.events);
    assert.ok(!audit.includes(token) && !audit.includes(REVOKED));
  });
});

describe('introspection endpoint failures', () => {
  test('wrong client credentials or an unreachable endpoint refuse the token and are not cached', async () => {
    const other = await startGateway(
      simpleRoutes(upstream.url, [{ name: 'o', service: 'svc', paths: ['/o'] }]),
      {
        clock,
        jwksDispatcher: auth.dispatcher,
        issuers: [
          issuerConfig(auth.url, {
            introspection: { endpoint: `${auth.url}/introspect`, clientId: CLIENT_ID, clientSecret: 'wrong' },
          }),
          issuerConfig('https://127.0.0.1:1', {
            introspection: { endpoint: 'https://127.0.0.1:1/introspect', clientId: 'x', clientSecret: 'y' },
          }),
        ],
      },
    );
    try {
      const token = `${ACTIVE}-i`;
      auth.answers.set(token, activeAnswer('ivan', 600));
      const res = await request(`${other.url}/o`, { headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      assert.equal(res.statusCode, 401);
      assert.equal(auth.calls, 0, 'the server refused the gateway before looking the token up');
      const introspector = other.gateway.runtime.authenticator.introspector;
      assert.equal(introspector?.size, 0, 'failures are not cached');
    } finally {
      await other.close();
    }
  });
});

describe('introspection answers that never end', () => {
  // A misbehaving endpoint: `drip` sends a byte now and then forever, `huge` streams 8 MiB, chunked
  // (no content-length to refuse up front). Both must fail closed within the cap and the deadline.
  let server: https.Server;
  let endpoint = '';
  let dispatcher: Agent;
  const sent = { bytes: 0, closed: Promise.resolve() };

  before(async () => {
    const creds = await localServerCredentials(tempHome(), 'test-introspection-bad');
    server = https.createServer({ cert: creds.cert, key: creds.key }, async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const token = new URLSearchParams(body).get('token') ?? '';
      res.writeHead(200, { 'content-type': 'application/json' });
      if (token === 'drip-token') {
        dripForever(res, '{"active":true,"pad":"', 'x');
        return;
      }
      res.write('{"active":true,"pad":"');
      sent.bytes = 0;
      let resolveClosed!: () => void;
      sent.closed = new Promise((resolve) => {
        resolveClosed = resolve;
      });
      res.on('close', resolveClosed);
      const chunk = 'x'.repeat(64 * 1024);
      while (sent.bytes < 8 * 1024 * 1024 && !res.destroyed) {
        sent.bytes += chunk.length;
        if (!res.write(chunk))
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done).off('close', done);
              resolve();
            };
            res.on('drain', done).on('close', done);
          });
      }
      res.end('"}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
    dispatcher = new Agent({ connect: { ca: creds.ca } });
  });

  after(async () => {
    await dispatcher.close();
    server.closeAllConnections();
    server.close();
  });

  const introspector = () =>
    new TokenIntrospector({
      issuers: [
        {
          issuer: 'https://issuer.test',
          audiences: ['orders'],
          clockSkewSeconds: 0,
          rolesClaim: 'roles',
          tenantClaim: 'tenant',
          introspection: { endpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        },
      ],
      clock: new ManualClock(),
      dispatcher,
      timeoutMs: 300,
    });

  test('an answer that trickles in forever is refused after the timeout (fail closed), not waited on', async () => {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      introspector()
        .authenticate('drip-token')
        .then(
          () => 'accepted',
          (err: unknown) => (err instanceof IntrospectionRefused ? err.reason : 'other'),
        ),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('hung'), 3_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, 'introspection_failed');
  });

  test('a huge chunked answer is cut off at the cap, not read into memory whole', async () => {
    await assert.rejects(introspector().authenticate('huge-token'), (err: unknown) => {
      assert.ok(err instanceof IntrospectionRefused);
      assert.equal(err.reason, 'introspection_failed');
      return true;
    });
    await sent.closed;
    assert.ok(sent.bytes < 4 * 1024 * 1024, `the endpoint got to send ${sent.bytes} bytes`);
  });
});
