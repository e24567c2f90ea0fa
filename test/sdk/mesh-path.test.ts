/**
 * Path confusion against the SDK's mesh server, from the attacker's side: a caller allowed on `orders`
 * but forbidden under `/admin` sends `/admin` spelled every way an application router would still read as
 * `/admin`. Each must be refused (400) or decided as `/admin` (403), and whatever the handler gets is the
 * very path the policy decided on.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import type { WorkloadIdentity } from '../../src/core/mtls/workload-identity.ts';
import { createMeshServer, type DecidedTarget } from '../../src/sdk/mesh/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import {
  ADMIN_ATTACKS,
  joinWorkload,
  type RecordingPolicy,
  rawMeshRequest,
  recordingPolicy,
  sid,
} from './mesh-fixtures.ts';

describe('mesh SDK server, attacked with path spellings of /admin', () => {
  let authority: TestAuthority;
  let orders: WorkloadIdentity;
  let frontend: WorkloadIdentity;
  let server: Server;
  let port: number;
  let policy: RecordingPolicy;
  const audit = new MemoryAuditSink();
  const served: { url: string | undefined; target: DecidedTarget }[] = [];

  before(async () => {
    authority = await startAuthority('sqlite');
    [orders, frontend] = await Promise.all([
      joinWorkload(authority, 'orders'),
      joinWorkload(authority, 'frontend'),
    ]);
    policy = recordingPolicy();
    server = createMeshServer({
      identity: orders,
      policy,
      audit,
      handler: (req, res, _peer, target) => {
        served.push({ url: req.url, target });
        res.end('ok');
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await Promise.all([orders.close(), frontend.close()]);
    await authority.stop();
  });

  it('serves a plain allowed path unchanged', async () => {
    const res = await rawMeshRequest(frontend, port, '/orders/1?x=1');
    assert.equal(res.status, 200, res.body);
    assert.equal(policy.decided.at(-1), '/orders/1');
    assert.deepEqual(served.at(-1), {
      url: '/orders/1?x=1',
      target: { path: '/orders/1', url: '/orders/1?x=1' },
    });
  });

  for (const [attack, expected] of ADMIN_ATTACKS) {
    it(`${expected === 400 ? 'refuses' : 'decides as /admin and forbids'} ${attack}, and never serves it`, async () => {
      const decidedBefore = policy.decided.length;
      const servedBefore = served.length;
      const res = await rawMeshRequest(frontend, port, attack);
      assert.equal(res.status, expected, res.body);
      if (expected === 400) {
        assert.equal(JSON.parse(res.body).code, 'invalid_request');
        assert.equal(policy.decided.length, decidedBefore, 'a refused path is never decided on');
        assert.ok(!res.body.includes(attack), 'the raw target is not reflected');
      } else {
        assert.equal(JSON.parse(res.body).code, 'mesh_peer_forbidden');
        assert.match(policy.decided.at(-1) ?? '', /^\/admin(\/|$)/);
      }
      assert.equal(served.length, servedBefore, 'the handler never ran');
    });
  }

  it('audits a refused path with its reason but not the raw target', async () => {
    await rawMeshRequest(frontend, port, '/admin%2fsecret');
    const event = audit.events.findLast((e) => e.reason === 'path_rejected');
    assert.equal(event?.actor.id, sid('frontend'));
    assert.equal(event?.details?.['pathRejection'], 'encoded_slash');
    assert.ok(!JSON.stringify(event).includes('secret'));
  });

  it('hands the handler exactly the target the policy decided on, re-encoded for the wire', async () => {
    const cases: [string, string, string][] = [
      ['/orders/./x/../%6Frders/2?q=a%20b', '/orders/orders/2', '/orders/orders/2?q=a%20b'],
      ['//orders//3/', '/orders/3/', '/orders/3/'],
      ['/orders/caf%C3%A9', '/orders/café', '/orders/caf%C3%A9'],
      ['/orders/%7Eme/%2E', '/orders/~me/', '/orders/~me/'],
    ];
    for (const [raw, path, url] of cases) {
      const res = await rawMeshRequest(frontend, port, raw);
      assert.equal(res.status, 200, `${raw}: ${res.body}`);
      assert.equal(policy.decided.at(-1), path, raw);
      const hit = served.at(-1);
      assert.deepEqual(hit, { url, target: { path, url } }, raw);
      assert.equal(decodeURIComponent((hit?.url ?? '').split('?')[0] ?? ''), policy.decided.at(-1));
    }
  });
});
