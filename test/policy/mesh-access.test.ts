/**
 * policy on the mesh, with a gateway following its bundle (`policyUrl`) as under `bulwark up`: every
 * workload may read the bundle and ask for decisions, only the policy admins may change the set (a workload
 * that could would allow itself anything everywhere), changes are audited with who made them, and the
 * gateway enforces a change within seconds.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import {
  buildConfigSchema,
  createLogger,
  loadConfig,
  MemoryAuditSink,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { componentDispatcher, type WorkloadIdentity } from '../../src/core/mtls/index.ts';
import { gatewayComponent } from '../../src/gateway/index.ts';
import { policyComponent } from '../../src/policy/index.ts';
import { DEFAULT_SIDECAR } from '../../src/sidecar/index.ts';
import { launchSidecar } from '../../src/sidecar/launch.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { waitFor } from '../fixtures/wait.ts';
import { startIssuer, type TestIssuer } from '../gateway/fixtures/issuer.ts';
import { startUpstream, type TestUpstream } from '../gateway/fixtures/upstream.ts';
import { type MeshCallers, meshCallers, sid } from '../sdk/mesh-fixtures.ts';

const PERMIT_ORDERS =
  'permit (principal, action == Bulwark::Action::"read", resource == Bulwark::Route::"orders");\n';
const FREEZE_ORDERS = 'forbid (principal, action, resource == Bulwark::Route::"orders");\n';
const ORDERS_CALLS_PAYMENTS = `permit (principal == Bulwark::Service::"${sid('orders')}",
  action == Bulwark::Action::"call", resource == Bulwark::Service::"${sid('payments')}");\n`;
const FREEZE_PAYMENTS = `forbid (principal, action, resource == Bulwark::Service::"${sid('payments')}");\n`;

describe('policy on the mesh', () => {
  let authority: TestAuthority;
  let issuer: TestIssuer;
  let upstream: TestUpstream;
  let policy: RunningComponent;
  let gateway: RunningComponent;
  let publicUrl: string;
  let edge: Agent;
  const policyAudit = new MemoryAuditSink();
  let callers: MeshCallers;

  before(async () => {
    authority = await startAuthority('sqlite');
    const home = authority.home;
    issuer = await startIssuer(home);
    upstream = await startUpstream();
    const directory = join(home, 'policies');
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, 'orders.cedar'), PERMIT_ORDERS);
    writeFileSync(join(directory, 'mesh.cedar'), ORDERS_CALLS_PAYMENTS);
    const routesFile = join(home, 'routes.yaml');
    writeFileSync(
      routesFile,
      stringify({
        format_version: '1',
        services: [{ name: 'orders', targets: [upstream.url] }],
        routes: [
          {
            name: 'orders',
            service: 'orders',
            paths: ['/orders'],
            auth: { audience: 'orders' },
            authorize: {},
          },
        ],
      }),
    );
    const file = join(home, 'bulwark.yaml');
    writeFileSync(
      file,
      stringify({
        home,
        log: { level: 'silent' },
        mesh: { authorityUrl: authority.url },
        components: {
          policy: { directory, reloadIntervalMs: 0 },
          gateway: {
            publicPort: 0,
            // Two processes behind the public port: a bundle must reach both.
            workers: 2,
            routesFile,
            issuers: [{ issuer: issuer.issuer, audiences: ['orders'], algorithms: ['ES256'] }],
          },
        },
      }),
    );
    const schema = buildConfigSchema([
      { name: 'policy', defaultPort: 7302, properties: policyComponent.configProperties ?? {} },
      { name: 'gateway', defaultPort: 7408, properties: gatewayComponent.configProperties ?? {} },
    ]);
    const config = loadConfig(schema, { file, env: {} });
    policy = await runComponent(policyComponent, config, {
      port: 0,
      audit: policyAudit,
      joinToken: await authority.joinToken('policy'),
    });
    // The gateway learns where policy listens only now (port 0): a second load with its URL.
    const withPolicy = loadConfig(schema, {
      file,
      env: { BULWARK_COMPONENTS__GATEWAY__POLICY_URL: policy.url },
    });
    gateway = await runComponent(gatewayComponent, withPolicy, {
      port: 0,
      audit: new MemoryAuditSink(),
      joinToken: await authority.joinToken('gateway'),
    });
    publicUrl = gateway.endpoints['public'] ?? '';
    // The gateway's public certificate here is its SVID, which names no host: check its SPIFFE ID instead.
    edge = new Agent({
      connect: {
        ca: readFileSync(join(home, 'tls', 'ca.crt')),
        checkServerIdentity: (_host, cert) =>
          cert.subjectaltname === `URI:${sid('gateway')}` ? undefined : new Error('not the gateway'),
      },
    });
    callers = await meshCallers(authority, ['operator', 'orders'], 'policy');
  });
  after(async () => {
    await callers?.close();
    await edge?.close();
    await gateway?.stop();
    await policy?.stop();
    await upstream?.close();
    await issuer?.close();
    await authority?.stop();
  });

  const call = async (
    who: string,
    method: 'GET' | 'PUT' | 'DELETE' | 'POST',
    path: string,
    body?: unknown,
  ) => {
    const res = await request(`${policy.url}${path}`, {
      method,
      dispatcher: callers.as[who],
      ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: (text ? JSON.parse(text) : {}) as { code?: string } };
  };
  /** The status all of ten requests got, each on a new connection (so both processes answer); 0 if mixed. */
  const throughGateway = async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const res = await request(`${publicUrl}/orders`, {
        dispatcher: edge,
        reset: true,
        headers: { authorization: `Bearer ${await issuer.sign({ aud: 'orders', sub: 'alice' })}` },
      });
      await res.body.dump();
      seen.add(res.statusCode);
    }
    return seen.size === 1 ? [...seen][0] : 0;
  };

  it('lets any workload read the bundle and ask for decisions, but not change the policy set', async () => {
    assert.equal((await call('orders', 'GET', '/v1/bundle')).status, 200);
    const decided = await call('orders', 'POST', '/v1/decisions', {
      principal: { type: 'Bulwark::User', id: 'alice' },
      action: 'read',
      resource: { type: 'Bulwark::Route', id: 'orders' },
    });
    assert.equal(decided.status, 200);
    for (const [method, path, body] of [
      ['PUT', '/v1/policies/allow-all.cedar', { text: 'permit (principal, action, resource);' }],
      ['DELETE', '/v1/policies/allow-all.cedar', undefined],
      ['POST', '/v1/reload', undefined],
    ] as const) {
      const refused = await call('orders', method, path, body);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.equal(refused.json.code, 'policy_forbidden');
    }
    assert.equal(policyAudit.events.filter((e) => e.action === 'policy.bundle.applied').length, 1);
  });

  it('keeps a sidecar deciding with the bundle it follows over mTLS, changes included', async () => {
    const app = createServer((_req, res) => res.end('paid'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const sidecar = await launchSidecar({
      settings: {
        ...DEFAULT_SIDECAR,
        inboundPort: 0,
        adminPort: -1,
        appPort: (app.address() as AddressInfo).port,
        outbound: [],
      },
      authorityUrl: authority.url,
      authorityCa: authority.ca,
      joinToken: await authority.joinToken('payments'),
      policyUrl: policy.url,
      logger: createLogger({
        level: 'silent',
        component: 'sidecar',
        destination: new Writable({ write: (_c, _e, done) => done() }),
      }),
      audit: new MemoryAuditSink(),
    });
    const orders = callers.identities['orders'] as WorkloadIdentity;
    const toPayments = componentDispatcher(orders, 'payments');
    const pay = async () => {
      const res = await request(`https://127.0.0.1:${sidecar.inboundPort}/charges`, {
        dispatcher: toPayments,
      });
      await res.body.dump();
      return res.statusCode;
    };
    try {
      assert.equal(await pay(), 200);
      assert.equal(
        (await call('operator', 'PUT', '/v1/policies/freeze-payments.cedar', { text: FREEZE_PAYMENTS }))
          .status,
        201,
      );
      await waitFor(async () => (await pay()) === 403, 'the sidecar to apply the new bundle', 5000);
      assert.equal((await call('operator', 'DELETE', '/v1/policies/freeze-payments.cedar')).status, 200);
      await waitFor(async () => (await pay()) === 200, 'the sidecar to apply the next bundle', 5000);
    } finally {
      await toPayments.close();
      await sidecar.stop();
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it("enforces the operator's change at the gateway within seconds, and audits who made it", async () => {
    assert.equal(await throughGateway(), 200);
    const put = await call('operator', 'PUT', '/v1/policies/freeze.cedar', { text: FREEZE_ORDERS });
    assert.equal(put.status, 201);
    const applied = policyAudit.events.findLast((e) => e.action === 'policy.bundle.applied');
    assert.deepEqual(applied?.actor, { type: 'service', id: sid('operator') });
    await waitFor(async () => (await throughGateway()) === 403, 'the gateway to apply the new bundle', 5000);
    assert.equal((await call('operator', 'DELETE', '/v1/policies/freeze.cedar')).status, 200);
    await waitFor(async () => (await throughGateway()) === 200, 'the gateway to apply the next bundle', 5000);
  });
});
