/**
 * Path confusion through the sidecar, from the attacker's side: the policy forbids `/admin` on `orders`;
 * a caller sends `/admin` spelled so that a plain HTTP app would still route it to `/admin`. Each must be
 * refused (400) or decided as `/admin` (403) without reaching the app, and what the app does receive is
 * exactly the path the policy decided on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import type { WorkloadIdentity } from '../../src/sdk/mesh/index.ts';
import { DEFAULT_SIDECAR } from '../../src/sidecar/config.ts';
import { type RunningSidecar, startSidecar } from '../../src/sidecar/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import {
  ADMIN_ATTACKS,
  joinWorkload,
  type RecordingPolicy,
  rawMeshRequest,
  recordingPolicy,
  sid,
} from '../sdk/mesh-fixtures.ts';
import { startApp } from './sidecar-fixtures.ts';

describe('sidecar inbound, attacked with path spellings of /admin', () => {
  let authority: TestAuthority;
  let app: Awaited<ReturnType<typeof startApp>>;
  let orders: WorkloadIdentity;
  let frontend: WorkloadIdentity;
  let sidecar: RunningSidecar;
  let policy: RecordingPolicy;
  const audit = new MemoryAuditSink();

  before(async () => {
    authority = await startAuthority('sqlite');
    app = await startApp('orders');
    [orders, frontend] = await Promise.all([
      joinWorkload(authority, 'orders'),
      joinWorkload(authority, 'frontend'),
    ]);
    policy = recordingPolicy();
    const client = authority.client();
    client.useCredentials(orders.credentials);
    sidecar = await startSidecar({
      settings: { ...DEFAULT_SIDECAR, inboundPort: 0, adminPort: 0, appPort: app.port },
      identity: orders,
      policy,
      authority: client,
      audit,
    });
  });
  after(async () => {
    await sidecar.stop();
    app.server.close();
    await Promise.all([orders.close(), frontend.close()]);
    await authority.stop();
  });

  for (const [attack, expected] of ADMIN_ATTACKS) {
    it(`${expected === 400 ? 'refuses' : 'decides as /admin and forbids'} ${attack}; the app never sees it`, async () => {
      const hits = app.hits.length;
      const res = await rawMeshRequest(frontend, sidecar.inboundPort, attack);
      assert.equal(res.status, expected, res.body);
      if (expected === 403) assert.match(policy.decided.at(-1) ?? '', /^\/admin(\/|$)/);
      else assert.equal(JSON.parse(res.body).code, 'invalid_request');
      assert.equal(app.hits.length, hits, 'the app was not reached');
    });
  }

  it('forwards to the app exactly the path the policy decided on, query kept', async () => {
    const cases: [raw: string, decided: string, forwarded: string][] = [
      ['/orders/1?x=1&y=%2F', '/orders/1', '/orders/1?x=1&y=%2F'],
      ['/x/../%6Frders/./2?q=a%20b', '/orders/2', '/orders/2?q=a%20b'],
      ['//orders//3', '/orders/3', '/orders/3'],
      ['/orders/caf%C3%A9/%2E%2E/tea', '/orders/tea', '/orders/tea'],
      ['/orders/caf%c3%a9', '/orders/café', '/orders/caf%C3%A9'],
    ];
    for (const [raw, decided, forwarded] of cases) {
      const res = await rawMeshRequest(frontend, sidecar.inboundPort, raw);
      assert.equal(res.status, 200, `${raw}: ${res.body}`);
      assert.deepEqual(JSON.parse(res.body), { app: 'orders', peer: sid('frontend') });
      assert.equal(policy.decided.at(-1), decided, raw);
      const hit = app.hits.at(-1);
      assert.equal(hit?.path, forwarded, raw);
      assert.equal(decodeURIComponent(forwarded.split('?')[0] ?? ''), decided);
    }
  });
});
