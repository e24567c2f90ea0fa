/**
 * The Node SDK against a running `keys`: field envelope encryption with a bounded data-key cache,
 * tokenization, and masking.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FieldCipher, type KeysApiError, type KeysClient, maskValue } from '../../src/sdk/keys/index.ts';
import { type KeysHarness, keysClient, startKeys } from './fixture.ts';

const SVC = 'spiffe://bulwark.test/ns/crm/app';

describe('keys SDK', () => {
  let h: KeysHarness;
  let client: KeysClient;
  before(async () => {
    h = await startKeys();
    await h.call('POST', '/v1/keys', {
      name: 'crm',
      type: 'aes256-gcm',
      acl: { encrypt: [SVC], decrypt: [SVC], datakey: [SVC], tokenize: [SVC], detokenize: [SVC] },
    });
    client = keysClient(h, SVC);
  });
  after(async () => {
    await client.close();
    await h.stop();
  });

  it('encrypts fields locally with one cached data key and decrypts them on another instance', async () => {
    let now = 0;
    const fields = new FieldCipher({ client, key: 'crm', ttlMs: 60_000, maxUses: 50, now: () => now });
    const ctx = (record: string) => ({ tenant: 't1', record, field: 'ssn' });
    const stored = await Promise.all(
      Array.from({ length: 40 }, (_, i) => fields.encryptField(`123-45-${1000 + i}`, ctx(`c${i}`))),
    );
    assert.equal(fields.fetches, 1, 'one data key for 40 concurrent fields');
    for (const value of stored) assert.match(value, /^bulwark:env1:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    // Another replica with an empty cache unwraps the data key through keys, once.
    const replica = new FieldCipher({ client, key: 'crm' });
    for (const [i, value] of stored.entries()) {
      assert.equal((await replica.decryptField(value, ctx(`c${i}`))).toString(), `123-45-${1000 + i}`);
    }
    await assert.rejects(
      replica.decryptField(stored[0]!, ctx('c1')),
      (e) => (e as KeysApiError).code === 'keys_decrypt_failed',
    );
    // The cache is bounded: past maxUses or ttl a new data key is fetched.
    for (let i = 0; i < 20; i++) await fields.encryptField('x', ctx('n'));
    assert.equal(fields.fetches, 2, 'maxUses forces a new data key');
    now += 60_001;
    await fields.encryptField('x', ctx('n'));
    assert.equal(fields.fetches, 3, 'ttl forces a new data key');
  });

  it('reports a caller without permission with the API error code', async () => {
    const stranger = keysClient(h, 'spiffe://bulwark.test/ns/other');
    try {
      await assert.rejects(
        new FieldCipher({ client: stranger, key: 'crm' }).encryptField('x', {}),
        (e) => (e as KeysApiError).code === 'keys_forbidden',
      );
      const [token] = await client.tokenize('crm', [{ value: '4111111111111111', format: 'card' }]);
      await assert.rejects(
        stranger.detokenize('crm', [token!]),
        (e) => (e as KeysApiError).code === 'keys_forbidden',
      );
      assert.deepEqual(await client.detokenize('crm', [token!]), ['4111111111111111']);
      assert.equal(maskValue('card', token!).slice(-4), '1111');
    } finally {
      await stranger.close();
    }
  });
});
