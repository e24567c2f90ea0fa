/**
 * audit on the mesh: every workload of the trust domain may append, only its readers may search and
 * read the log back (records hold what components did, with personal data), only its admins may manage
 * retention, and a caller without an SVID gets nothing but health.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { auditComponent } from '../../src/audit/index.ts';
import { buildConfigSchema, loadConfig, type RunningComponent, runComponent } from '../../src/core/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { type MeshCallers, meshCallers } from '../sdk/mesh-fixtures.ts';

describe('audit on the mesh', () => {
  let authority: TestAuthority;
  let audit: RunningComponent;
  let callers: MeshCallers;

  before(async () => {
    authority = await startAuthority('sqlite');
    const schema = buildConfigSchema([
      { name: 'audit', defaultPort: 7301, properties: auditComponent.configProperties },
    ]);
    const config = loadConfig(schema, {
      env: {
        BULWARK_HOME: authority.home,
        BULWARK_LOG__LEVEL: 'silent',
        BULWARK_MESH__AUTHORITY_URL: authority.url,
        BULWARK_COMPONENTS__AUDIT__CHECKPOINT_INTERVAL_MS: '50',
        // `legal` manages holds but may not read the log back.
        BULWARK_COMPONENTS__AUDIT__ADMINS:
          '[spiffe://bulwark.local/service/operator, spiffe://bulwark.local/service/legal]',
      },
    });
    audit = await runComponent(auditComponent, config, {
      port: 0,
      joinToken: await authority.joinToken('audit'),
    });
    callers = await meshCallers(authority, ['orders', 'operator', 'legal'], 'audit');
  });
  after(async () => {
    await callers?.close();
    await audit?.stop();
    await authority?.stop();
  });

  const call = async (
    who: string,
    method: 'GET' | 'HEAD' | 'POST',
    path: string,
    body?: unknown,
    raw?: string,
  ) => {
    const sent = raw ?? (body ? JSON.stringify(body) : undefined);
    const res = await request(`${audit.url}${path}`, {
      method,
      dispatcher: callers.as[who],
      ...(sent ? { body: sent, headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.body.text();
    const json =
      text && (res.headers['content-type'] ?? '').toString().includes('json') ? JSON.parse(text) : {};
    return { status: res.statusCode, json: json as { code?: string } };
  };

  it('lets any workload append and read the checkpoint, but only readers search', async () => {
    const record = {
      id: randomUUID(),
      time: new Date().toISOString(),
      actor: { type: 'service', id: 'spiffe://bulwark.local/service/orders' },
      action: 'orders.ship',
      outcome: 'success',
      source: { component: 'orders' },
    };
    assert.equal((await call('orders', 'POST', '/audit/v1/records', { records: [record] })).status, 200);
    assert.equal((await call('orders', 'GET', '/audit/v1/log-key')).status, 200);
    for (const path of [
      '/audit/v1/records?action=orders.ship',
      `/audit/v1/records/${record.id}`,
      '/audit/v1/export',
    ]) {
      const refused = await call('orders', 'GET', path);
      assert.equal(refused.status, 403, path);
      assert.equal(refused.json.code, 'audit_forbidden');
    }
    assert.equal((await call('operator', 'GET', `/audit/v1/records/${record.id}`)).status, 200);
  });

  it('stamps every record with the SPIFFE ID that appended it, whatever the record claims', async () => {
    const forged = {
      id: randomUUID(),
      time: new Date(Date.now() - 3_600_000).toISOString(),
      actor: { type: 'service', id: 'spiffe://bulwark.local/service/operator' },
      action: 'authority.svid.revoke',
      outcome: 'success',
      source: { component: 'authority' },
    };
    assert.equal((await call('orders', 'POST', '/audit/v1/records', { records: [forged] })).status, 200);
    const stored = (await call('operator', 'GET', `/audit/v1/records/${forged.id}`)).json as {
      submitter?: string;
      actor?: { id: string };
    };
    // What the record says stays as sent; who sent it is on record, inside the leaf hash.
    assert.equal(stored.actor?.id, 'spiffe://bulwark.local/service/operator');
    assert.equal(stored.submitter, 'spiffe://bulwark.local/service/orders');
    // The same on the event loop's path (a `\\u` escape sends a body there, past the ingest thread).
    const escaped = { ...forged, id: randomUUID(), reason: 'caf\u00e9' };
    const raw = JSON.stringify({ records: [escaped] }).replace('é', '\\u00e9');
    assert.match(raw, /\\u00e9/);
    assert.equal((await call('orders', 'POST', '/audit/v1/records', undefined, raw)).status, 200);
    const viaLoop = (await call('operator', 'GET', `/audit/v1/records/${escaped.id}`)).json as {
      submitter?: string;
    };
    assert.equal(viaLoop.submitter, 'spiffe://bulwark.local/service/orders');
    // A caller cannot write the stamp itself.
    const claimed = await call('orders', 'POST', '/audit/v1/records', {
      records: [{ ...forged, id: randomUUID(), submitter: 'spiffe://bulwark.local/service/authority' }],
    });
    assert.equal(claimed.status, 400);
    // Nor take over another submitter's record by replaying its id.
    const replay = await call('operator', 'POST', '/audit/v1/records', { records: [forged] });
    assert.equal(replay.status, 409);
  });

  it('decides HEAD as the GET it answers: readers read, admins who are not readers learn nothing', async () => {
    // HEAD runs the GET handler (status, content length, `x-next-after`, `x-log-size`): decided as a write,
    // it let an admin who may not read probe searches by their length, and kept workloads off the checkpoint.
    for (const path of [
      '/audit/v1/records?action=orders.ship&limit=1',
      '/audit/v1/export?format=ecs&limit=1',
      '/audit/v1/entries?start=0',
    ]) {
      const refused = await call('legal', 'HEAD', path);
      assert.equal(refused.status, 403, path);
      assert.equal((await call('operator', 'HEAD', path)).status, 200, path);
    }
    assert.equal((await call('orders', 'HEAD', '/audit/v1/checkpoint')).status, 200);
    assert.equal((await call('orders', 'HEAD', '/audit/v1/records?limit=1')).status, 403);
  });

  it('keeps retention management to its admins', async () => {
    const refused = await call('orders', 'POST', '/audit/v1/retention/prune');
    assert.equal(refused.status, 403);
    assert.equal((await call('operator', 'POST', '/audit/v1/retention/prune')).status, 200);
  });
});
