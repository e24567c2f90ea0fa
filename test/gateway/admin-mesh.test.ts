/**
 * The gateway's admin API on the mesh: the caller's verified SPIFFE ID carries its role (the operator SVID
 * by default, so the CLI under `bulwark up` needs no admin secret), tokens still give theirs, and a
 * workload of the trust domain gets nothing it was not given, whatever headers it sends.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { stringify } from 'yaml';
import {
  buildConfigSchema,
  loadConfig,
  MemoryAuditSink,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { GATEWAY_CONFIG, gatewayComponent } from '../../src/gateway/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { type MeshCallers, meshCallers, sid } from '../sdk/mesh-fixtures.ts';

const VIEWER_TOKEN = 'viewer-token-0123456789abcdef00';
const OPERATOR_TOKEN = 'operator-token-0123456789abcdef';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const routes = (path: string) =>
  stringify({
    format_version: '1',
    services: [{ name: 'orders', targets: ['http://127.0.0.1:9'] }],
    routes: [{ name: 'orders', service: 'orders', paths: [path], auth: { required: false } }],
  });

describe('gateway admin API on the mesh', () => {
  let authority: TestAuthority;
  let gateway: RunningComponent;
  const audit = new MemoryAuditSink();
  let callers: MeshCallers;

  before(async () => {
    authority = await startAuthority('sqlite');
    const routesFile = join(authority.home, 'routes.yaml');
    writeFileSync(routesFile, routes('/orders'));
    const file = join(authority.home, 'bulwark.yaml');
    writeFileSync(
      file,
      stringify({
        home: authority.home,
        log: { level: 'silent' },
        mesh: { authorityUrl: authority.url },
        // Only the monitoring workload scrapes: the gateway's metrics name its API consumers.
        server: { metricsCallers: [sid('console-*')] },
        components: {
          gateway: {
            publicPort: 0,
            routesFile,
            adminViewers: [sid('console-*')],
            adminTokens: [
              { sha256: sha(VIEWER_TOKEN), role: 'viewer' },
              { sha256: sha(OPERATOR_TOKEN), role: 'operator' },
            ],
          },
        },
      }),
    );
    const schema = buildConfigSchema([
      { name: 'gateway', defaultPort: gatewayComponent.defaultPort, properties: GATEWAY_CONFIG },
    ]);
    gateway = await runComponent(gatewayComponent, loadConfig(schema, { file, env: {} }), {
      port: 0,
      audit,
      joinToken: await authority.joinToken('gateway'),
    });
    callers = await meshCallers(authority, ['operator', 'orders', 'console-eu'], 'gateway');
  });
  after(async () => {
    await callers?.close();
    await gateway?.stop();
    await authority?.stop();
  });

  const call = async (
    who: string,
    method: 'GET' | 'PUT',
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const res = await request(`${gateway.url}${path}`, {
      method,
      dispatcher: callers.as[who],
      headers: {
        ...options.headers,
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(options.body ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text };
  };
  const sync = (who: string, path: string, token?: string) =>
    call(who, 'PUT', '/v1/gateway/routes', { body: { yaml: routes(path) }, ...(token ? { token } : {}) });

  it('gives the operator SVID the operator role with no token, and audits the change as that SPIFFE ID', async () => {
    assert.equal((await call('operator', 'GET', '/v1/gateway/routes')).status, 200);
    const applied = await sync('operator', '/orders-v2');
    assert.equal(applied.status, 200, applied.text);
    const exported = await call('operator', 'GET', '/v1/gateway/routes');
    assert.match(exported.text, /orders-v2/);
    const record = audit.events.findLast((e) => e.action === 'gateway.routes.sync');
    assert.deepEqual(record?.actor, { type: 'service', id: sid('operator') });
  });

  it('refuses a workload of the trust domain that was given no role, even with identity headers', async () => {
    const forged: Record<string, string>[] = [
      {},
      { 'x-forwarded-client-cert': `URI=${sid('operator')}` },
      { 'x-bulwark-caller': sid('operator'), 'x-bulwark-identity': sid('operator') },
    ];
    for (const headers of forged) {
      const read = await call('orders', 'GET', '/v1/gateway/routes', { headers });
      assert.equal(read.status, 403);
      assert.equal(JSON.parse(read.text).code, 'gateway_admin_forbidden');
      assert.match(
        JSON.parse(read.text).detail ?? read.text,
        /service\/orders does not have the viewer role/,
      );
    }
    assert.equal((await sync('orders', '/taken-over')).status, 403);
    assert.doesNotMatch((await call('operator', 'GET', '/v1/gateway/routes')).text, /taken-over/);
  });

  it('lets a listed viewer (by prefix) read but not change', async () => {
    assert.equal((await call('console-eu', 'GET', '/v1/gateway/stages')).status, 200);
    assert.equal((await sync('console-eu', '/viewer-change')).status, 403);
  });

  it('serves /metrics only to the workloads listed in server.metricsCallers', async () => {
    const scraped = await call('console-eu', 'GET', '/metrics');
    assert.equal(scraped.status, 200);
    assert.match(scraped.text, /bulwark_gateway_requests_total|bulwark_gateway_config_reloads_total/);
    const refused = await call('orders', 'GET', '/metrics');
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.text).code, 'forbidden');
  });

  it('still honours admin tokens beside SPIFFE IDs, each with its own role', async () => {
    assert.equal((await call('orders', 'GET', '/v1/gateway/routes', { token: VIEWER_TOKEN })).status, 200);
    assert.equal((await sync('orders', '/viewer-token', VIEWER_TOKEN)).status, 403);
    // A viewer SVID with a viewer token is still a viewer; with the operator token it may change.
    assert.equal((await sync('console-eu', '/viewer-both', VIEWER_TOKEN)).status, 403);
    const applied = await sync('console-eu', '/by-token', OPERATOR_TOKEN);
    assert.equal(applied.status, 200, applied.text);
    const record = audit.events.findLast((e) => e.action === 'gateway.routes.sync');
    assert.deepEqual(record?.actor, {
      type: 'client',
      id: `admin-token:${sha(OPERATOR_TOKEN).slice(0, 12)}`,
    });
  });
});
