/** The Node SDK end to end: a mesh server and a mesh client, each with its own identity from authority. */
import assert from 'node:assert/strict';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import type { WorkloadIdentity } from '../../src/core/mtls/workload-identity.ts';
import { MeshClient } from '../../src/sdk/mesh/mesh-client.ts';
import { createMeshMetrics } from '../../src/sdk/mesh/mesh-metrics.ts';
import { createMeshServer } from '../../src/sdk/mesh/mesh-server.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload, meshPolicy, sid } from './mesh-fixtures.ts';

describe('mesh SDK', () => {
  let authority: TestAuthority;
  let orders: WorkloadIdentity;
  let frontend: WorkloadIdentity;
  let intruder: WorkloadIdentity;
  let server: Server;
  const audit = new MemoryAuditSink();
  let metrics: ReturnType<typeof createMeshMetrics>;
  const clients: MeshClient[] = [];

  const clientFor = (identity: WorkloadIdentity) => {
    const authorityClient = authority.client();
    authorityClient.useCredentials(identity.credentials);
    const client = new MeshClient({ identity, resolve: (name) => authorityClient.resolve(name) });
    clients.push(client);
    return client;
  };

  before(async () => {
    authority = await startAuthority('sqlite');
    [orders, frontend, intruder] = await Promise.all([
      joinWorkload(authority, 'orders'),
      joinWorkload(authority, 'frontend'),
      joinWorkload(authority, 'intruder'),
    ]);
    metrics = createMeshMetrics('orders', orders.credentials);
    server = createMeshServer({
      identity: orders,
      policy: meshPolicy(),
      audit,
      metrics,
      handler: (_req, res, peer) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ caller: peer.spiffeId.uri }));
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const registrar = authority.client();
    registrar.useCredentials(orders.credentials);
    await registrar.register('127.0.0.1', (server.address() as AddressInfo).port);
    await registrar.close();
  });
  after(async () => {
    for (const c of clients) await c.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await Promise.all([orders, frontend, intruder].map((w) => w.close()));
    await authority.stop();
  });

  it('lets an allowed caller in and shows the handler its verified SPIFFE ID', async () => {
    const res = await clientFor(frontend).fetch('orders', '/orders/1');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { caller: sid('frontend') });
  });

  it('denies a service the policy does not allow, and audits the denial', async () => {
    const res = await clientFor(intruder).fetch('orders', '/orders/1');
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'mesh_peer_forbidden');
    const event = audit.events.find((e) => e.reason === 'mesh_peer_forbidden');
    assert.equal(event?.actor.id, sid('intruder'));
    assert.equal(event?.outcome, 'failure');
    assert.match(
      await metrics.registry.metrics(),
      /bulwark_mesh_denials_total\{reason="mesh_peer_forbidden",component="orders"\} 1/,
    );
  });

  it('refuses a server whose SVID is not the service the client asked for', async () => {
    // The client asks for "payments" but the instance it reaches is "orders".
    const wrong = new MeshClient({
      identity: frontend,
      resolve: async () => [{ host: '127.0.0.1', port: (server.address() as AddressInfo).port }],
    });
    clients.push(wrong);
    await assert.rejects(wrong.fetch('payments', '/'), (err: Error & { cause?: { code?: string } }) => {
      assert.equal(err.cause?.code, 'mesh_peer_forbidden');
      return true;
    });
  });

  /** Runs requests from 8 workers, half of them on fresh connections, while `during` runs. */
  const underLoad = async (during: () => Promise<void>) => {
    const client = clientFor(frontend);
    let failures = 0;
    let done = 0;
    let running = true;
    const loop = async (worker: number) => {
      while (running) {
        try {
          // Odd workers close their connection each time, so handshakes keep happening during rotation.
          const res = await client.fetch(
            'orders',
            '/load',
            worker % 2 ? { headers: { connection: 'close' } } : {},
          );
          await res.text();
          if (res.status !== 200) failures++;
        } catch {
          failures++;
        }
        done++;
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => loop(i));
    await during();
    await new Promise((resolve) => setTimeout(resolve, 150));
    running = false;
    await Promise.all(workers);
    return { failures, done };
  };

  it('keeps serving while both sides rotate their SVIDs under load: zero failed requests', async () => {
    const before = orders.credentials.material.certChain;
    const { failures, done } = await underLoad(async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await Promise.all([orders.renew(), frontend.renew()]);
      }
    });
    assert.equal(failures, 0, `${failures} of ${done} requests failed`);
    assert.ok(done > 50, `only ${done} requests ran`);
    assert.notEqual(orders.credentials.material.certChain, before);
    assert.equal(orders.renewals, 3);
  });

  it('keeps serving through a CA rotation under load (overlapping bundles): zero failed requests', async () => {
    const rootsBefore = orders.credentials.material.bundle.length;
    const { failures, done } = await underLoad(async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal((await authority.admin('POST', '/v1/rotation', { phase: 'prepare' })).status, 200);
      // Every workload learns the new root before anything is signed by it.
      assert.deepEqual(await Promise.all([orders.refreshBundle(), frontend.refreshBundle()]), [true, true]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal((await authority.admin('POST', '/v1/rotation', { phase: 'activate' })).status, 200);
      await orders.renew();
      await new Promise((resolve) => setTimeout(resolve, 100));
      await frontend.renew();
    });
    assert.equal(failures, 0, `${failures} of ${done} requests failed`);
    assert.equal(orders.credentials.material.bundle.length, rootsBefore + 1);
  });

  it('refuses a revoked caller within seconds, even on a kept-alive connection', async () => {
    const client = clientFor(frontend);
    assert.equal((await client.fetch('orders', '/before')).status, 200);
    const revoked = await authority.admin('POST', '/v1/revocations', {
      spiffeId: sid('frontend'),
      reason: 'test',
    });
    assert.equal(revoked.status, 200);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 5000) {
      const res = await client.fetch('orders', '/after');
      await res.text();
      status = res.status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(status, 401);
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    assert.ok(audit.events.some((e) => e.reason === 'mesh_peer_revoked'));
  });
});
