/**
 * State that must survive: a restart with the same master key reads old data, a restart with another
 * master key refuses to start, and two replicas on one store share versions and usage (cluster mode).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { b64, dropSchema, ENGINES, startKeys, text } from './fixture.ts';

const APP = 'spiffe://bulwark.test/ns/app';

for (const engine of ENGINES) {
  describe(`restart and replicas on ${engine}`, () => {
    it('decrypts after a restart with the same master key and refuses to start with another', async () => {
      const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
      const namespace = `keys_t${randomBytes(4).toString('hex')}`;
      const masterKey = randomBytes(32);
      try {
        const first = await startKeys({ engine, home, namespace, masterKey });
        await first.call('POST', '/v1/keys', {
          name: 'k',
          type: 'aes256-gcm',
          acl: { encrypt: [APP], decrypt: [APP] },
        });
        const enc = await first.call('POST', '/v1/keys/k/encrypt', { plaintext: b64('kept') }, APP);
        await first.stop();
        const second = await startKeys({ engine, home, namespace, masterKey });
        const dec = await second.call(
          'POST',
          '/v1/keys/k/decrypt',
          { ciphertext: enc.body['ciphertext'] },
          APP,
        );
        assert.equal(text(dec.body['plaintext']), 'kept');
        await second.stop();
        await assert.rejects(startKeys({ engine, home, namespace, masterKey: randomBytes(32) }), (e) => {
          return (e as { code?: string }).code === 'keys_master_key_invalid';
        });
      } finally {
        if (engine === 'postgres') await dropSchema(namespace);
      }
    });

    it('lets two replicas share one store: a rotation on one is used by the other', async () => {
      const namespace = `keys_t${randomBytes(4).toString('hex')}`;
      const masterKey = randomBytes(32);
      const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
      const a = await startKeys({ engine, home, namespace, masterKey });
      const b = await startKeys({ engine, home, namespace, masterKey });
      try {
        await a.call('POST', '/v1/keys', {
          name: 'shared',
          type: 'aes256-gcm',
          acl: { encrypt: [APP], decrypt: [APP] },
        });
        const v1 = await b.call('POST', '/v1/keys/shared/encrypt', { plaintext: b64('from b') }, APP);
        assert.match(String(v1.body['ciphertext']), /^bulwark:v1:/);
        await a.call('POST', '/v1/keys/shared/rotate');
        const v2 = await b.call('POST', '/v1/keys/shared/encrypt', { plaintext: b64('after rotation') }, APP);
        assert.match(String(v2.body['ciphertext']), /^bulwark:v2:/);
        const back = await a.call(
          'POST',
          '/v1/keys/shared/decrypt',
          { ciphertext: v2.body['ciphertext'] },
          APP,
        );
        assert.equal(text(back.body['plaintext']), 'after rotation');
      } finally {
        await a.stop();
        await b.stop();
        if (engine === 'postgres') await dropSchema(namespace);
      }
    });
  });
}

describe('scheduled rotation in the running component', () => {
  it('rotates a key once its period has passed on the component clock, and audits it', async () => {
    const h = await startKeys({ env: { BULWARK_COMPONENTS__KEYS__ROTATION_CHECK_INTERVAL_MS: '1000' } });
    try {
      await h.call('POST', '/v1/keys', { name: 'hourly', type: 'aes256-gcm', rotation_period_ms: 3_600_000 });
      await new Promise((resolve) => setTimeout(resolve, 1300));
      assert.equal(
        (await h.call('GET', '/v1/keys/hourly')).body['latest_version'],
        1,
        'rotated before its period',
      );
      h.clock.advance(3_600_000);
      await new Promise((resolve) => setTimeout(resolve, 1300));
      assert.equal((await h.call('GET', '/v1/keys/hourly')).body['latest_version'], 2);
      const event = h.audit.events.find((e) => e.action === 'keys.rotate' && e.reason === 'scheduled');
      assert.deepEqual(event?.target, { type: 'key', id: 'hourly' });
    } finally {
      await h.stop();
    }
  });
});
