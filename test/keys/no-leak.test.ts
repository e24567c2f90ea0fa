/**
 * Property: whatever values and contexts go through `keys`, and whether the operation succeeds or fails,
 * no plaintext, ciphertext, token, data key or key material reaches a log line (core's logger writing to
 * memory at debug level) or an audit event.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { b64, type KeysHarness, startKeys } from './fixture.ts';

const APP = 'spiffe://bulwark.test/ns/app';

describe('no key or plaintext reaches a log', () => {
  let h: KeysHarness;
  const secrets: Buffer[] = [];
  const random = (size: number) => {
    const out = randomBytes(size);
    if (size === 32) secrets.push(Buffer.from(out));
    return out;
  };
  before(async () => {
    h = await startKeys({ overrides: { random } });
    const acl = {
      encrypt: [APP],
      decrypt: [APP],
      rewrap: [APP],
      datakey: [APP],
      tokenize: [APP],
      detokenize: [APP],
    };
    await h.call('POST', '/v1/keys', { name: 'pii', type: 'aes256-gcm', acl });
    await h.call('POST', '/v1/keys', { name: 'mac', type: 'hmac-sha256', acl: { hmac: [APP] } });
  });
  after(() => h.stop());

  it('holds for random values, contexts and operations, successful or not', async () => {
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 6, maxLength: 48 }),
        fc.dictionary(
          fc.constantFrom('tenant', 'record', 'field'),
          fc.string({ minLength: 1, maxLength: 12 }),
        ),
        fc.boolean(),
        async (body, context, wrongContext) => {
          // A marker makes every value unique, so a match in the logs can only be this value.
          const value = `pv${randomBytes(6).toString('hex')}${body}`;
          seen.push(value, b64(value));
          const enc = await h.call('POST', '/v1/keys/pii/encrypt', { plaintext: b64(value), context }, APP);
          assert.equal(enc.status, 200);
          const ciphertext = String(enc.body['ciphertext']);
          seen.push(ciphertext);
          const decContext = wrongContext ? { ...context, record: 'elsewhere' } : context;
          await h.call('POST', '/v1/keys/pii/decrypt', { ciphertext, context: decContext }, APP);
          await h.call('POST', '/v1/keys/pii/rewrap', { ciphertext, context }, APP);
          const tok = await h.call('POST', '/v1/keys/pii/tokenize', { value }, APP);
          seen.push(String(tok.body['token']));
          await h.call('POST', '/v1/keys/pii/detokenize', { token: tok.body['token'] }, APP);
          await h.call(
            'POST',
            '/v1/keys/pii/detokenize',
            { token: tok.body['token'] },
            'spiffe://bulwark.test/ns/intruder',
          );
          const dk = await h.call('POST', '/v1/keys/pii/datakey/plaintext', {}, APP);
          seen.push(String(dk.body['plaintext']), String(dk.body['ciphertext']));
          await h.call('POST', '/v1/keys/mac/hmac', { input: b64(value) }, APP);
        },
      ),
      { numRuns: 40 },
    );
    const logs = h.logs.join('');
    const audit = JSON.stringify(h.audit.events);
    assert.ok(h.logs.length > 100, 'the logger wrote request lines');
    for (const needle of seen) {
      assert.equal(logs.includes(needle), false, 'a value reached the log');
      assert.equal(audit.includes(needle), false, 'a value reached the audit trail');
    }
    for (const secret of secrets) {
      for (const encoding of ['base64', 'base64url', 'hex'] as const) {
        const form = secret.toString(encoding);
        assert.equal(logs.includes(form) || audit.includes(form), false, 'key material reached a log');
      }
    }
    assert.equal(logs.includes(h.masterKey.toString('base64')), false);
  });
});
