/** Versions and API documents survive a restart, on both storage engines; a bad directory at start is survived. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startPolicy, writePolicy } from './harness.ts';

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`policy restart on ${engine}`, () => {
    it('serves the stored version after a restart, even when the directory broke meanwhile', async () => {
      const home = mkdtempSync(join(tmpdir(), 'bulwark-policy-restart-'));
      const namespace = `policy_t${randomBytes(4).toString('hex')}`;
      const first = await startPolicy(engine, { home, namespace });
      let second: Awaited<ReturnType<typeof startPolicy>> | undefined;
      try {
        const empty = (await first.call('/v1/bundle')).json();
        assert.equal(empty['version'], 1, 'an empty directory is a valid, deny-all bundle');
        const put = await first.call('/v1/policies/open.cedar', {
          method: 'PUT',
          body: { text: '@id("open-read")\npermit(principal, action == Bulwark::Action::"read", resource);' },
        });
        assert.equal(put.status, 201);
        await first.stop();
        writePolicy(first, 'broken.cedar', 'permit(principal, action, resource'); // start must survive this
        second = await startPolicy(engine, { home, namespace });
        const doc = (await second.call('/v1/bundle')).json();
        assert.equal(doc['version'], put.json()['version']);
        assert.equal(doc['hash'], put.json()['hash']);
        const ready = await second.call('/readyz');
        assert.equal(ready.status, 200);
        const d = await second.call('/v1/decisions', {
          method: 'POST',
          body: {
            principal: { type: 'Bulwark::User', id: 'u' },
            action: 'read',
            resource: { type: 'Bulwark::Route', id: 'r' },
            context: { method: 'GET', path: '/', sourceIp: '10.0.0.1', amr: [], hour: 1, weekday: 1 },
            entities: [
              {
                uid: { type: 'Bulwark::User', id: 'u' },
                attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 't' } } },
                parents: [],
              },
            ],
          },
        });
        assert.deepEqual(d.json()['policies'], ['open-read']);
      } finally {
        await first.stop();
        await second?.stop();
        await first.cleanup();
        await second?.dispatcher.close();
      }
    });
  });
}
