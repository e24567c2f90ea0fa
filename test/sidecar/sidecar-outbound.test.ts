/**
 * Service to service through two sidecars: the app calls a local port by service name; the sidecar
 * originates mTLS to a healthy instance, retries idempotent calls around a dead instance, and the callee's
 * sidecar enforces the policy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload, sid } from '../sdk/mesh-fixtures.ts';
import { meshSidecar, startApp } from './sidecar-fixtures.ts';

describe('sidecar outbound, service to service', () => {
  let authority: TestAuthority;
  let ordersApp: Awaited<ReturnType<typeof startApp>>;
  let paymentsApp: Awaited<ReturnType<typeof startApp>>;
  let orders: Awaited<ReturnType<typeof meshSidecar>>;
  let payments: Awaited<ReturnType<typeof meshSidecar>>;
  let frontend: Awaited<ReturnType<typeof meshSidecar>>;
  const local = (service: string, path: string) =>
    `http://127.0.0.1:${frontend.sidecar.outboundPorts[service]}${path}`;

  before(async () => {
    authority = await startAuthority('sqlite');
    [ordersApp, paymentsApp] = await Promise.all([startApp('orders'), startApp('payments')]);
    orders = await meshSidecar(authority, 'orders', { appPort: ordersApp.port });
    payments = await meshSidecar(authority, 'payments', { appPort: paymentsApp.port });
    // frontend has no inbound app of its own here: its inbound points at a closed port.
    frontend = await meshSidecar(authority, 'frontend', {
      appPort: 9,
      outbound: [
        { service: 'orders', port: 0 },
        { service: 'payments', port: 0 },
      ],
    });
  });
  after(async () => {
    await Promise.all([frontend.stop(), orders.stop(), payments.stop()]);
    ordersApp.server.close();
    paymentsApp.server.close();
    await authority.stop();
  });

  it('carries a call by service name over mTLS, and the callee app sees the caller identity', async () => {
    const res = await request(local('orders', '/orders/7'), {
      headers: { 'x-bulwark-peer-id': 'spiffe://bulwark.local/service/admin' },
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { app: 'orders', peer: sid('frontend') });
  });

  it('denies a service calling one it may not call, and the callee sidecar audits it', async () => {
    const res = await request(local('payments', '/charges'));
    assert.equal(res.statusCode, 403);
    assert.equal(((await res.body.json()) as { code: string }).code, 'mesh_peer_forbidden');
    assert.equal(paymentsApp.hits.length, 0, 'the payments app never saw the call');
    const event = payments.audit.events.find((e) => e.reason === 'mesh_peer_forbidden');
    assert.equal(event?.actor.id, sid('frontend'));
    assert.equal(event?.target?.id, sid('payments'));
  });

  it('retries idempotent calls around a dead instance and ejects it', async () => {
    // A second "orders" instance that is registered but dead (nothing listens on its port).
    const ghost = await joinWorkload(authority, 'orders');
    const client = authority.client();
    client.useCredentials(ghost.credentials);
    await client.register('127.0.0.1', 1);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the resolution cache
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await request(local('orders', `/r/${i}`));
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    assert.deepEqual([...new Set(statuses)], [200], 'every GET succeeded');
    const retries = await frontend.sidecar.metrics.registry.getSingleMetricAsString(
      'bulwark_mesh_retries_total',
    );
    assert.match(retries, /service="orders"/);
    assert.deepEqual(
      frontend.sidecar.clusters['orders']!.outliers.available(['127.0.0.1:1']),
      [],
      'the dead instance is ejected',
    );
    await client.close();
    await ghost.close();
  });

  it('keeps calls flowing while both workloads rotate their SVIDs under load: zero failed requests', async () => {
    let failures = 0;
    let done = 0;
    let running = true;
    const loop = async () => {
      while (running) {
        try {
          const res = await request(local('orders', '/load'));
          await res.body.dump();
          if (res.statusCode !== 200) failures++;
        } catch {
          failures++;
        }
        done++;
      }
    };
    const workers = Array.from({ length: 6 }, loop);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 120));
      await Promise.all([orders.identity.renew(), frontend.identity.renew()]);
    }
    await new Promise((resolve) => setTimeout(resolve, 120));
    running = false;
    await Promise.all(workers);
    assert.equal(failures, 0, `${failures} of ${done} failed`);
    assert.ok(done > 30, `only ${done} requests`);
  });

  it('exposes handshake, denial and SVID-expiry metrics', async () => {
    const text = await payments.sidecar.metrics.registry.metrics();
    assert.match(text, /bulwark_mesh_tls_handshakes_total\{direction="inbound",result="ok"/);
    assert.match(text, /bulwark_mesh_denials_total\{reason="mesh_peer_forbidden"/);
    assert.match(
      text,
      /bulwark_mesh_svid_expiry_timestamp_seconds\{spiffe_id="spiffe:\/\/bulwark.local\/service\/payments"/,
    );
    const admin = await request(`http://127.0.0.1:${payments.sidecar.adminPort}/metrics`);
    assert.equal(admin.statusCode, 200);
    await admin.body.dump();
  });
});
