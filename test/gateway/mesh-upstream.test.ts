/**
 * The gateway calls an upstream of the mesh with its own SVID from `authority` (route file `tls.spiffeId`):
 * the upstream's policy sees the gateway's SPIFFE ID, and the gateway refuses an upstream presenting any
 * other SVID (a workload that took over the address).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import type { WorkloadIdentity } from '../../src/core/mtls/index.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { createMeshServer } from '../../src/sdk/mesh/mesh-server.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload, meshPolicy, sid } from '../sdk/mesh-fixtures.ts';
import { startGateway, type TestGateway } from './fixtures/harness.ts';

const POLICY = `
permit (principal == Bulwark::Service::"${sid('gateway')}", action == Bulwark::Action::"call",
        resource == Bulwark::Service::"${sid('orders')}");
`;

describe('gateway upstreams on the mesh', () => {
  let authority: TestAuthority;
  let gatewayIdentity: WorkloadIdentity;
  const workloads: WorkloadIdentity[] = [];
  const servers: Server[] = [];
  const gateways: TestGateway[] = [];

  const serve = async (identity: WorkloadIdentity) => {
    const server = createMeshServer({
      identity,
      policy: meshPolicy(POLICY),
      audit: new MemoryAuditSink(),
      handler: (_req, res, peer) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ served: identity.spiffeId, caller: peer.spiffeId.uri }));
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  const routes = (target: string): RouteDocument => ({
    format_version: '1',
    services: [
      { name: 'orders', targets: [target], tls: { spiffeId: sid('orders') }, retries: { attempts: 0 } },
    ],
    routes: [{ name: 'orders', paths: ['/orders'], service: 'orders', auth: { required: false } }],
  });

  before(async () => {
    authority = await startAuthority('sqlite');
    gatewayIdentity = await joinWorkload(authority, 'gateway');
    workloads.push(gatewayIdentity);
  });
  after(async () => {
    for (const g of gateways) await g.close();
    for (const s of servers) s.close();
    for (const w of workloads) await w.close();
    await authority?.stop();
  });

  it('reaches the upstream over mTLS as the gateway', async () => {
    const orders = await joinWorkload(authority, 'orders');
    workloads.push(orders);
    const gw = await startGateway(routes(await serve(orders)), { upstreamIdentity: gatewayIdentity });
    gateways.push(gw);
    const res = await fetch(`${gw.url}/orders`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { served: sid('orders'), caller: sid('gateway') });
  });

  it('refuses an upstream whose SVID is not the SPIFFE ID the route file names', async () => {
    const impostor = await joinWorkload(authority, 'billing');
    workloads.push(impostor);
    const gw = await startGateway(routes(await serve(impostor)), { upstreamIdentity: gatewayIdentity });
    gateways.push(gw);
    const res = await fetch(`${gw.url}/orders`);
    assert.ok(res.status >= 502 && res.status <= 504, `status ${res.status}`);
    assert.doesNotMatch(await res.text(), /served/);
  });

  it('rejects a route file naming a SPIFFE ID when the gateway has no SVID', async () => {
    await assert.rejects(startGateway(routes('https://127.0.0.1:1')), /SVID/);
  });
});
