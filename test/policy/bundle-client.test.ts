/** Gateways and sidecars pull the bundle by ETag and keep deciding with the last good one when `policy` is down. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BundleClient, PolicyEngine } from '../../src/core/policy-engine/index.ts';
import { CONTEXT } from './fixtures.ts';
import { type Harness, startPolicy } from './harness.ts';

const alice = { type: 'Bulwark::User', id: 'alice' };
const route = { type: 'Bulwark::Route', id: 'acme.orders.get' };
const aliceEntity = {
  uid: alice,
  attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 'acme' } } },
  parents: [],
};
const read = { principal: alice, action: 'read', resource: route, context: CONTEXT, entities: [aliceEntity] };

describe('bundle client', () => {
  let h: Harness;
  before(async () => {
    h = await startPolicy('sqlite', { templates: ['tenant-isolation'] });
  });
  after(async () => {
    await h.stop();
    await h.cleanup();
  });

  it('pulls the bundle, then gets 304s until a new version, which it applies', async () => {
    const engine = new PolicyEngine();
    const client = new BundleClient({ url: h.url, engine, dispatcher: h.dispatcher });
    assert.equal(await client.poll(), 'updated');
    assert.equal(engine.decide(read).decision, 'allow');
    assert.equal(await client.poll(), 'unchanged');
    const put = await h.call('/v1/policies/freeze.cedar', {
      method: 'PUT',
      body: { text: '@id("freeze")\nforbid(principal, action, resource);' },
    });
    assert.equal(put.status, 201);
    assert.equal(await client.poll(), 'updated');
    assert.equal(client.version, put.json()['version']);
    assert.deepEqual(engine.decide(read).policies, ['freeze']);
    await h.call('/v1/policies/freeze.cedar', { method: 'DELETE' });
    assert.equal(await client.poll(), 'updated');
    assert.equal(engine.decide(read).decision, 'allow');
  });

  it('applies a new bundle while decisions run without losing or mixing any', async () => {
    const engine = new PolicyEngine();
    const client = new BundleClient({ url: h.url, engine, dispatcher: h.dispatcher });
    await client.poll();
    const first = engine.bundle?.hash;
    let running = true;
    const seen = new Map<string, Set<string>>();
    let count = 0;
    const loop = (async () => {
      while (running) {
        const d = engine.decide(read);
        const key = `${d.decision}:${d.policies.join(',')}`;
        if (!seen.has(d.bundle as string)) seen.set(d.bundle as string, new Set());
        seen.get(d.bundle as string)?.add(key);
        count++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await h.call('/v1/policies/freeze.cedar', {
      method: 'PUT',
      body: { text: '@id("freeze")\nforbid(principal, action, resource);' },
    });
    assert.equal(await client.poll(), 'updated');
    await new Promise((resolve) => setTimeout(resolve, 30));
    running = false;
    await loop;
    await h.call('/v1/policies/freeze.cedar', { method: 'DELETE' });
    assert.ok(count > 10);
    assert.deepEqual([...(seen.get(first as string) ?? [])], ['allow:tenant-members-access']);
    assert.deepEqual([...(seen.get(engine.bundle?.hash as string) ?? [])], ['deny:freeze']);
    assert.equal(seen.size, 2);
  });

  it('keeps deciding with the last good bundle when policy is down', async () => {
    const engine = new PolicyEngine();
    const errors: unknown[] = [];
    const client = new BundleClient({
      url: h.url,
      engine,
      dispatcher: h.dispatcher,
      timeoutMs: 1000,
      onError: (e) => errors.push(e),
    });
    assert.equal(await client.poll(), 'updated');
    const hash = engine.bundle?.hash;
    await h.stop();
    assert.equal(await client.poll(), 'failed');
    assert.equal(errors.length, 1);
    assert.equal(engine.bundle?.hash, hash);
    assert.equal(engine.decide(read).decision, 'allow');
  });

  it('refuses a tampered or malformed bundle and keeps the good one', async () => {
    const engine = new PolicyEngine();
    engine.load({ policies: [{ file: 'a.cedar', text: '@id("a")\npermit(principal, action, resource);' }] });
    const good = engine.bundle?.hash;
    let body = '';
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"x"' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = new BundleClient({ url, engine });
      body = JSON.stringify({
        format: 'bulwark.policy-bundle/1',
        version: 9,
        hash: good,
        createdAt: 'x',
        policies: [{ file: 'evil.cedar', text: 'permit(principal, action, resource);' }],
        schema: null,
        entities: null,
      });
      assert.equal(await client.poll(), 'failed');
      assert.equal((client.lastError as { code?: string }).code, 'policy_bundle_format');
      body = '{"format":"something-else"}';
      assert.equal(await client.poll(), 'failed');
      assert.equal(engine.bundle?.hash, good);
    } finally {
      server.close();
    }
  });
});

describe('bundle client long poll', () => {
  it('gets a new version as soon as it exists, without waiting for the poll interval', async () => {
    const h = await startPolicy('sqlite', { templates: ['tenant-isolation'] });
    const engine = new PolicyEngine();
    const client = new BundleClient({
      url: h.url,
      engine,
      dispatcher: h.dispatcher,
      waitSeconds: 30,
      intervalMs: 60_000,
    });
    try {
      assert.equal(await client.start(), 'updated');
      const before = engine.bundle?.hash;
      await new Promise((resolve) => setTimeout(resolve, 100)); // the long poll is now held by the server
      const started = Date.now();
      await h.call('/v1/policies/freeze.cedar', {
        method: 'PUT',
        body: { text: '@id("freeze")\nforbid(principal, action, resource);' },
      });
      while (engine.bundle?.hash === before && Date.now() - started < 5000) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.notEqual(engine.bundle?.hash, before, 'the new version arrived');
      assert.ok(Date.now() - started < 2000, `pushed in ${Date.now() - started} ms`);
      assert.deepEqual(engine.decide(read).policies, ['freeze']);
    } finally {
      client.stop();
      const stopping = Date.now();
      await h.stop();
      assert.ok(Date.now() - stopping < 3000, 'held long polls do not delay shutdown');
      await h.cleanup();
    }
  });
});
