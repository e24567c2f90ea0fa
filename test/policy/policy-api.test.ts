/** The `policy` component over real HTTPS, on SQLite and on PostgreSQL (never skipped: it fails when down). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONTEXT } from './fixtures.ts';
import { type Harness, startPolicy, writePolicy } from './harness.ts';

const alice = { type: 'Bulwark::User', id: 'alice' };
const acmeRoute = { type: 'Bulwark::Route', id: 'acme.orders.get' };
const aliceEntity = {
  uid: alice,
  attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 'acme' } } },
  parents: [],
};

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`policy API on ${engine}`, () => {
    let h: Harness;
    before(async () => {
      h = await startPolicy(engine, { templates: ['tenant-isolation'] }).catch((err: Error) => {
        throw new Error(
          `cannot start policy on ${engine} (is PostgreSQL up at 127.0.0.1:5432?): ${err.message}`,
        );
      });
    });
    after(async () => {
      await h?.stop();
      await h?.cleanup();
    });

    it('serves the bundle with an ETag and answers 304 to If-None-Match', async () => {
      const res = await h.call('/v1/bundle');
      assert.equal(res.status, 200);
      const doc = res.json();
      assert.equal(doc['format'], 'bulwark.policy-bundle/1');
      assert.equal(res.headers['etag'], `"${doc['hash']}"`);
      const again = await h.call('/v1/bundle', {
        headers: { 'if-none-match': res.headers['etag'] as string },
      });
      assert.equal(again.status, 304);
      assert.equal(again.text, '');
      const weak = await h.call('/v1/bundle', { headers: { 'if-none-match': `W/${res.headers['etag']}` } });
      assert.equal(weak.status, 304);
      const stale = await h.call('/v1/bundle', { headers: { 'if-none-match': '"sha256:0000"' } });
      assert.equal(stale.status, 200);
    });

    it('decides through the decision API with the ids of the deciding policies', async () => {
      const allow = await h.call('/v1/decisions', {
        method: 'POST',
        body: {
          principal: alice,
          action: 'read',
          resource: acmeRoute,
          context: CONTEXT,
          entities: [aliceEntity],
        },
      });
      assert.equal(allow.status, 200);
      assert.equal(allow.json()['decision'], 'allow');
      assert.deepEqual(allow.json()['policies'], ['tenant-members-access']);
    });

    it('denies a tenant reading another tenant resource, and logs the deny with the policy id', async () => {
      const gina = {
        uid: { type: 'Bulwark::User', id: 'gina' },
        attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 'globex' } } },
        parents: [],
      };
      const res = await h.call('/v1/decisions', {
        method: 'POST',
        body: {
          principal: gina.uid,
          action: 'read',
          resource: acmeRoute,
          context: CONTEXT,
          entities: [gina],
        },
      });
      assert.equal(res.json()['decision'], 'deny');
      assert.deepEqual(res.json()['policies'], ['tenant-isolation']);
      const event = h.audit.events.find((e) => e.actor.id === 'gina');
      assert.ok(event, 'the deny reached the audit sink');
      assert.equal(event.outcome, 'failure');
      assert.deepEqual(event.details?.['policies'], ['tenant-isolation']);
      assert.equal(
        h.audit.events.some((e) => e.action === 'policy.decision' && e.outcome === 'success'),
        false,
        'allows not sampled at rate 0',
      );
    });

    it('adds a policy through the API as a new version, and rejects a bad one keeping the old', async () => {
      const before = (await h.call('/v1/bundle')).json();
      const put = await h.call('/v1/policies/no-delete.cedar', {
        method: 'PUT',
        body: { text: '@id("no-delete")\nforbid(principal, action == Bulwark::Action::"delete", resource);' },
      });
      assert.equal(put.status, 201);
      assert.equal(put.json()['version'], (before['version'] as number) + 1);
      const bad = await h.call('/v1/policies/bad.cedar', {
        method: 'PUT',
        body: { text: '@id("bad")\npermit(principal, action, resource)\nwhen { principal.nope == 1 };' },
      });
      assert.equal(bad.status, 422);
      assert.equal(bad.json()['code'], 'policy_bundle_invalid');
      const issues = bad.json()['issues'] as { file: string; line: number; message: string }[];
      assert.equal(issues[0]?.file, 'api:bad.cedar');
      assert.equal(issues[0]?.line, 3);
      const syntax = await h.call('/v1/policies/bad.cedar', {
        method: 'PUT',
        body: { text: 'permit(principal,, action, resource);' },
      });
      assert.equal(syntax.status, 422);
      const now = (await h.call('/v1/bundle')).json();
      assert.equal(now['version'], put.json()['version'], 'no version for rejected bundles');
      assert.equal((await h.call('/v1/policies/bad.cedar')).status, 404);
      const list = (await h.call('/v1/policies')).json()['policies'] as { name: string; source: string }[];
      assert.deepEqual(
        list.map((p) => `${p.source}:${p.name}`),
        ['directory:tenant-isolation.cedar', 'api:no-delete.cedar'],
      );
      const deny = await h.call('/v1/decisions', {
        method: 'POST',
        body: {
          principal: alice,
          action: 'delete',
          resource: acmeRoute,
          context: CONTEXT,
          entities: [aliceEntity],
        },
      });
      assert.deepEqual(deny.json()['policies'], ['no-delete']);
      const applied = h.audit.events.filter((e) => e.action === 'policy.bundle.applied');
      assert.deepEqual(applied.at(-1)?.details?.['change'], { document: 'no-delete.cedar', op: 'put' });
      assert.equal(applied.at(-1)?.details?.['version'], put.json()['version']);
      const rejected = h.audit.events.filter((e) => e.action === 'policy.bundle.rejected');
      assert.equal(rejected.length, 2, 'both rejected writes are audited');
      assert.equal(rejected[0]?.outcome, 'failure');
    });

    it('keeps every document when writes race, each version containing all earlier ones', async () => {
      const names = Array.from({ length: 6 }, (_, i) => `race-${i}.cedar`);
      const results = await Promise.all(
        names.map((name, i) =>
          h.call(`/v1/policies/${name}`, {
            method: 'PUT',
            body: {
              text: `@id("race-${i}")\nforbid(principal, action == Bulwark::Action::"manage", resource);`,
            },
          }),
        ),
      );
      assert.ok(results.every((r) => r.status === 201));
      const bundle = (await h.call('/v1/bundle')).json();
      const files = (bundle['policies'] as { file: string }[]).map((p) => p.file);
      for (const name of names) assert.ok(files.includes(`api:${name}`), `${name} is in the bundle served`);
      for (const name of names)
        assert.equal((await h.call(`/v1/policies/${name}`, { method: 'DELETE' })).status, 200);
      assert.equal((await h.call('/v1/policies/race-0.cedar', { method: 'DELETE' })).status, 404);
    });

    it('refuses to change a directory policy through the API', async () => {
      const res = await h.call('/v1/policies/tenant-isolation.cedar', {
        method: 'PUT',
        body: { text: 'permit(principal, action, resource);' },
      });
      assert.equal(res.status, 409);
      assert.equal(res.json()['code'], 'policy_read_only');
    });

    it('refuses document names that try to leave the document namespace', async () => {
      for (const name of ['..%2F..%2Fetc%2Fpasswd', '.hidden', 'a%00b', `${'x'.repeat(101)}`]) {
        const res = await h.call(`/v1/policies/${name}`, {
          method: 'PUT',
          body: { text: 'permit(principal, action, resource);' },
        });
        assert.ok([400, 414].includes(res.status), `${name}: ${res.status}`);
      }
      const list = (await h.call('/v1/policies')).json()['policies'] as { name: string }[];
      assert.ok(list.every((p) => !p.name.includes('/') || p.name.startsWith('tenant')));
    });

    it('validates without storing', async () => {
      const ok = await h.call('/v1/validate', {
        method: 'POST',
        body: { name: 'x.cedar', text: 'permit(principal, action, resource);' },
      });
      assert.equal(ok.json()['valid'], true);
      const bad = await h.call('/v1/validate', {
        method: 'POST',
        body: { name: 'x.cedar', text: 'permit(principal, action, resource' },
      });
      assert.equal(bad.json()['valid'], false);
      assert.equal((await h.call('/v1/policies/x.cedar')).status, 404);
    });

    it('ignores a directory that stops compiling and keeps serving the last good version', async () => {
      const before = (await h.call('/v1/bundle')).json();
      writePolicy(h, 'broken.cedar', 'permit(principal, action, resource) when { context.nope };');
      const reload = await h.call('/v1/reload', { method: 'POST' });
      assert.equal(reload.status, 422);
      assert.equal(reload.json()['code'], 'policy_bundle_invalid');
      assert.equal((reload.json()['issues'] as { file: string }[])[0]?.file, 'broken.cedar');
      assert.equal((await h.call('/v1/bundle')).json()['hash'], before['hash']);
    });

    it('deletes an API policy as a new version and diffs two versions', async () => {
      writePolicy(h, 'broken.cedar', '// fixed\n');
      const del = await h.call('/v1/policies/no-delete.cedar', { method: 'DELETE' });
      assert.equal(del.status, 200);
      const versions = (await h.call('/v1/bundles')).json()['versions'] as { version: number }[];
      assert.ok(versions.length >= 3);
      const [latest, previous] = versions;
      const old = await h.call(`/v1/bundles/${previous?.version}`);
      assert.equal(old.status, 200);
      const diff = await h.call(`/v1/analysis/diff?from=${previous?.version}&to=${latest?.version}`);
      assert.equal(diff.status, 200);
      assert.ok(Array.isArray(diff.json()['rows']));
      assert.equal((await h.call('/v1/bundles/999')).status, 404);
    });

    it('answers who-can and what-can over the known entities', async () => {
      const who = await h.call('/v1/analysis/who-can', {
        method: 'POST',
        body: { action: 'read', resource: 'Route::"acme.orders.get"' },
      });
      const principals = (who.json()['rows'] as { principal: string }[]).map((r) => r.principal).sort();
      assert.deepEqual(principals, ['ServiceAccount::"acme-ci"', 'User::"alice"']);
      const what = await h.call('/v1/analysis/what-can', {
        method: 'POST',
        body: { principal: 'User::"gina"' },
      });
      const rows = what.json()['rows'] as { action: string; resource: string }[];
      assert.ok(rows.length > 0);
      assert.ok(rows.every((r) => r.resource === 'Route::"globex.orders.get"'));
      const bad = await h.call('/v1/analysis/what-can', { method: 'POST', body: { principal: 'alice' } });
      assert.equal(bad.status, 400);
    });

    it('rejects malformed decision requests with problem details', async () => {
      const res = await h.call('/v1/decisions', { method: 'POST', body: { principal: 'alice' } });
      assert.equal(res.status, 400);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    });
  });
}
