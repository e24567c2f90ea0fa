/**
 * audit on the mesh: every workload of the trust domain may append, only its readers may search and
 * read the log back (records hold what components did, with personal data), only its admins may manage
 * retention, and a caller without an SVID gets nothing but health.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Dispatcher, request } from 'undici';
import { auditComponent } from '../../src/audit/index.ts';
import { buildConfigSchema, loadConfig, type RunningComponent, runComponent } from '../../src/core/index.ts';
import { componentDispatcher, type WorkloadIdentity } from '../../src/core/mtls/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload } from '../sdk/mesh-fixtures.ts';

describe('audit on the mesh', () => {
  let authority: TestAuthority;
  let audit: RunningComponent;
  const identities: WorkloadIdentity[] = [];
  const as: Record<string, Dispatcher> = {};

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
      },
    });
    audit = await runComponent(auditComponent, config, {
      port: 0,
      joinToken: await authority.joinToken('audit'),
    });
    for (const name of ['orders', 'operator']) {
      const identity = await joinWorkload(authority, name);
      identities.push(identity);
      as[name] = componentDispatcher(identity, 'audit');
    }
  });
  after(async () => {
    for (const d of Object.values(as)) await d.close();
    for (const i of identities) await i.close();
    await audit?.stop();
    await authority?.stop();
  });

  const call = async (who: string, method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await request(`${audit.url}${path}`, {
      method,
      dispatcher: as[who],
      ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.body.text();
    const json = (res.headers['content-type'] ?? '').toString().includes('json') ? JSON.parse(text) : {};
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

  it('keeps retention management to its admins', async () => {
    const refused = await call('orders', 'POST', '/audit/v1/retention/prune');
    assert.equal(refused.status, 403);
    assert.equal((await call('operator', 'POST', '/audit/v1/retention/prune')).status, 200);
  });
});
