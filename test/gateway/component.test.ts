/**
 * The component as `bulwark up` runs it: configuration through core's loader, the public HTTPS listener,
 * and the admin API (validate / diff / sync / export, pushed revocations, JWKS, metrics), with its roles.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import {
  buildConfigSchema,
  loadConfig,
  MemoryAuditSink,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { GATEWAY_CONFIG, GATEWAY_ERRORS, gatewayComponent } from '../../src/gateway/index.ts';
import { freePort } from '../fixtures/net.ts';
import { tempHome } from './fixtures/harness.ts';
import { startIssuer, type TestIssuer } from './fixtures/issuer.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

const OPERATOR = 'operator-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef00';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let home: string;
let issuer: TestIssuer;
let upstream: TestUpstream;
let running: RunningComponent;
let publicUrl: string;
let dispatcher: Agent;
const audit = new MemoryAuditSink();
let routesFile: string;

const routesYaml = (path: string) =>
  stringify({
    format_version: '1',
    services: [{ name: 'orders', targets: [upstream.url] }],
    routes: [{ name: 'orders', service: 'orders', paths: [path], auth: { audience: 'orders' } }],
  });

before(async () => {
  home = tempHome();
  issuer = await startIssuer(home);
  upstream = await startUpstream();
  routesFile = join(home, 'routes.yaml');
  writeFileSync(routesFile, routesYaml('/orders'));
  const port = await freePort();
  const file = join(home, 'bulwark.yaml');
  writeFileSync(
    file,
    stringify({
      home,
      mode: 'development',
      log: { level: 'silent' },
      components: {
        gateway: {
          port: 0,
          publicPort: port,
          routesFile,
          issuers: [{ issuer: issuer.issuer, audiences: ['orders'], algorithms: ['ES256'] }],
          adminTokens: [
            { sha256: sha(OPERATOR), role: 'operator' },
            { sha256: sha(VIEWER), role: 'viewer' },
          ],
          auditAllowSampleRate: 1,
        },
      },
    }),
  );
  const schema = buildConfigSchema([
    { name: 'gateway', defaultPort: gatewayComponent.defaultPort, properties: GATEWAY_CONFIG },
  ]);
  const config = loadConfig(schema, { file, env: {} });
  running = await runComponent(gatewayComponent, config, { port: 0, audit });
  publicUrl = `https://localhost:${port}`;
  dispatcher = new Agent({ connect: { ca: readFileSync(join(home, 'tls', 'ca.crt')) } });
});

after(async () => {
  await running.stop();
  await dispatcher.close();
  await upstream.close();
  await issuer.close();
});

async function admin(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  const res = await request(`${running.url}${path}`, {
    dispatcher,
    method: (init.method ?? 'GET') as 'GET',
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    headers: {
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
  });
  return { status: res.statusCode, text: await res.body.text() };
}

async function callPublic(path: string, token: string) {
  const res = await request(`${publicUrl}${path}`, {
    dispatcher,
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  return res.statusCode;
}

describe('the gateway component', () => {
  test('serves the route file on the public HTTPS listener with tokens from the configured issuer', async () => {
    assert.equal(await callPublic('/orders', await issuer.sign({ aud: 'orders' })), 200);
    assert.equal(await callPublic('/orders', await issuer.sign({ aud: 'payments' })), 401);
  });

  test('the admin API refuses calls without a token and changes without the operator role', async () => {
    assert.equal((await admin('/v1/gateway/routes')).status, 403);
    assert.equal((await admin('/v1/gateway/routes', { token: 'not-a-configured-token-000' })).status, 403);
    assert.equal((await admin('/v1/gateway/routes', { token: VIEWER })).status, 200);
    const sync = await admin('/v1/gateway/routes', {
      method: 'PUT',
      token: VIEWER,
      body: { yaml: routesYaml('/x') },
    });
    assert.equal(sync.status, 403);
    assert.equal(JSON.parse(sync.text).code, 'gateway_admin_forbidden');
  });

  test('a refused admin call is audited, naming the route and never the token presented', async () => {
    // Someone guessing admin tokens, or a viewer trying a change, leaves a trace; the token does not.
    const guess = 'guessed-admin-token-0123456789';
    const before = audit.events.length;
    assert.equal((await admin('/v1/gateway/routes', { token: guess })).status, 403);
    assert.equal(
      (await admin('/v1/gateway/revocations', { method: 'POST', token: VIEWER, body: { jti: 'x', exp: 1 } }))
        .status,
      403,
    );
    const denied = audit.events.slice(before).filter((e) => e.action === 'gateway.admin.denied');
    assert.deepEqual(
      denied.map((e) => [e.target?.id, e.reason, e.outcome]),
      [
        ['GET /v1/gateway/routes', 'no_role', 'failure'],
        ['POST /v1/gateway/revocations', 'operator_required', 'failure'],
      ],
    );
    const text = JSON.stringify(denied);
    for (const secret of [guess, sha(guess), VIEWER, sha(VIEWER)]) assert.ok(!text.includes(secret));
  });

  test('validate and diff report problems and changes; sync applies and writes; export returns the file', async () => {
    const bad = await admin('/v1/gateway/routes/validate', {
      method: 'POST',
      token: VIEWER,
      body: { yaml: 'routes: [' },
    });
    assert.equal(JSON.parse(bad.text).valid, false);
    const diff = await admin('/v1/gateway/routes/diff', {
      method: 'POST',
      token: VIEWER,
      body: { yaml: routesYaml('/v2/orders') },
    });
    assert.deepEqual(JSON.parse(diff.text).changes, [{ kind: 'route', name: 'orders', change: 'changed' }]);
    const sync = await admin('/v1/gateway/routes', {
      method: 'PUT',
      token: OPERATOR,
      body: { yaml: routesYaml('/v2/orders') },
    });
    assert.equal(sync.status, 200, sync.text);
    assert.equal(readFileSync(routesFile, 'utf8'), routesYaml('/v2/orders'));
    const token = await issuer.sign({ aud: 'orders' });
    assert.equal(await callPublic('/v2/orders', token), 200);
    assert.equal(await callPublic('/orders', token), 404);
    const exported = await admin('/v1/gateway/routes', { token: VIEWER });
    assert.match(exported.text, /\/v2\/orders/);
    // A bad file is refused by sync and changes nothing.
    const refused = await admin('/v1/gateway/routes', {
      method: 'PUT',
      token: OPERATOR,
      body: { yaml: 'format_version: "2"' },
    });
    assert.equal(refused.status, 400);
    assert.equal(await callPublic('/v2/orders', token), 200);
  });

  test('a revocation pushed to the admin API is enforced within the second', async () => {
    const token = await issuer.sign({ aud: 'orders', jti: 'pushed-1' });
    assert.equal(await callPublic('/v2/orders', token), 200);
    const pushed = await admin('/v1/gateway/revocations', {
      method: 'POST',
      token: OPERATOR,
      body: { jti: 'pushed-1', exp: Math.floor(Date.now() / 1000) + 300 },
    });
    assert.equal(pushed.status, 204);
    assert.equal(await callPublic('/v2/orders', token), 401);
  });

  test('the JWKS is public, and metrics count requests per route and consumer and denials by reason', async () => {
    const jwks = JSON.parse((await admin('/v1/gateway/jwks.json')).text) as { keys: { alg: string }[] };
    assert.equal(jwks.keys[0]?.alg, 'EdDSA');
    const metrics = (await admin('/v1/gateway/metrics', { token: VIEWER })).text;
    assert.match(
      metrics,
      /bulwark_gateway_requests_total\{route="orders",consumer="[^"]+",status="200"\} \d+/,
    );
    assert.match(metrics, /bulwark_gateway_security_denials_total\{reason="authn",route="orders"\} \d+/);
    assert.match(metrics, /bulwark_gateway_request_duration_seconds_bucket/);
    // The same counters on the component's /metrics, beside core's, for one Prometheus scrape.
    const scrape = (await admin('/metrics')).text;
    assert.match(scrape, /bulwark_build_info\{[^}]*component="gateway"\} 1/);
    assert.match(
      scrape,
      /bulwark_gateway_requests_total\{route="orders",consumer="[^"]+",status="200"\} \d+/,
    );
  });

  test('every denial is audited and allowed requests are sampled (rate 1 here)', () => {
    assert.ok(audit.events.some((e) => e.action === 'gateway.request.denied' && e.reason === 'revoked'));
    assert.ok(audit.events.some((e) => e.action === 'gateway.request.allowed'));
    assert.ok(audit.events.some((e) => e.action === 'gateway.routes.sync'));
    // No token or key material in audit events.
    assert.ok(!JSON.stringify(audit.events).includes('eyJ'));
  });

  test('every error code has a row in docs/gateway.md', () => {
    const doc = readFileSync(new URL('../../docs/gateway.md', import.meta.url), 'utf8');
    for (const code of Object.keys(GATEWAY_ERRORS)) assert.ok(doc.includes(`\`${code}\``), code);
  });
});

describe('the gateway component without TLS', () => {
  test('`h2c: true` serves HTTP/2 by prior knowledge and HTTP/1.1 on the public port, in every worker', async () => {
    const plainHome = tempHome();
    const file = join(plainHome, 'bulwark.yaml');
    const port = await freePort();
    const plainRoutes = join(plainHome, 'routes.yaml');
    writeFileSync(plainRoutes, routesYaml('/orders'));
    writeFileSync(
      file,
      stringify({
        home: plainHome,
        mode: 'development',
        log: { level: 'silent' },
        server: { tls: { enabled: false } },
        components: {
          gateway: {
            port: 0,
            publicPort: port,
            workers: 2,
            h2c: true,
            routesFile: plainRoutes,
            issuers: [
              {
                issuer: issuer.issuer,
                audiences: ['orders'],
                algorithms: ['ES256'],
                caFile: join(home, 'tls', 'ca.crt'),
              },
            ],
          },
        },
      }),
    );
    const schema = buildConfigSchema([
      { name: 'gateway', defaultPort: gatewayComponent.defaultPort, properties: GATEWAY_CONFIG },
    ]);
    const plain = await runComponent(gatewayComponent, loadConfig(schema, { file, env: {} }), {
      port: 0,
      audit: new MemoryAuditSink(),
    });
    try {
      const token = await issuer.sign({ aud: 'orders' });
      // Each session on its own connection, so that they land on different processes.
      for (let i = 0; i < 8; i++) {
        const session = http2.connect(`http://127.0.0.1:${port}`);
        try {
          const status = await new Promise<number>((resolve, reject) => {
            const req = session.request({ ':path': '/orders', authorization: `Bearer ${token}` });
            req.on('response', (h) => resolve(Number(h[':status'])));
            req.on('error', reject);
            req.resume();
          });
          assert.equal(status, 200);
        } finally {
          session.close();
        }
      }
      const h1 = await request(`http://127.0.0.1:${port}/orders`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await h1.body.dump();
      assert.equal(h1.statusCode, 200);
    } finally {
      await plain.stop();
    }
  });
});
