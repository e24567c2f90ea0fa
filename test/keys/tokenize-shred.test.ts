/**
 * Tokenization (vaulted random tokens, card shape, detokenize only for allowed callers) and
 * crypto-shredding (erasing a subject key makes its data unreadable), over the API on both engines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { luhn } from '../../src/keys/tokenize/token-format.ts';
import { b64, ENGINES, type KeysHarness, startKeys, text } from './fixture.ts';

const BILLING = 'spiffe://bulwark.test/ns/billing/app';
const SUPPORT = 'spiffe://bulwark.test/ns/support/app';
const AUDIT = 'spiffe://bulwark.test/ns/audit/app';
const DPO = 'spiffe://bulwark.test/ns/privacy/dpo';

for (const engine of ENGINES) {
  describe(`tokenization and crypto-shredding on ${engine}`, () => {
    let h: KeysHarness;
    before(async () => {
      h = await startKeys({
        engine,
        env: {
          BULWARK_COMPONENTS__KEYS__SUBJECTS__ENCRYPT: `[${AUDIT}]`,
          BULWARK_COMPONENTS__KEYS__SUBJECTS__DECRYPT: `[${AUDIT}]`,
          BULWARK_COMPONENTS__KEYS__SUBJECTS__ERASE: `[${DPO}]`,
        },
      });
      await h.call('POST', '/v1/keys', {
        name: 'cards',
        type: 'aes256-gcm',
        acl: { tokenize: [BILLING, SUPPORT], detokenize: [BILLING] },
      });
      await h.call('POST', '/v1/keys', {
        name: 'emails',
        type: 'aes256-gcm',
        acl: { tokenize: [BILLING], detokenize: [BILLING] },
      });
    });
    after(() => h.stop());

    it('tokenizes a card number keeping its length and last four, never Luhn-valid, and detokenizes it', async () => {
      const pans = ['4111111111111111', '5500 0000 0000 0004', '378282246310005'];
      const res = await h.call(
        'POST',
        '/v1/keys/cards/tokenize',
        { batch: pans.map((value) => ({ value, format: 'card' })) },
        BILLING,
      );
      const tokens = (res.body['batch_results'] as { token: string }[]).map((r) => r.token);
      for (const [i, token] of tokens.entries()) {
        const digits = pans[i]!.replace(/ /g, '');
        assert.equal(token.length, digits.length);
        assert.equal(token.slice(-4), digits.slice(-4));
        assert.notEqual(token, digits);
        assert.equal(luhn(token), false, `${token} passes Luhn`);
      }
      const back = await h.call(
        'POST',
        '/v1/keys/cards/detokenize',
        { batch: tokens.map((token) => ({ token })) },
        BILLING,
      );
      assert.deepEqual(
        (back.body['batch_results'] as { value: string }[]).map((r) => r.value),
        pans,
      );
    });

    it('gives the same value a fresh random token each time', async () => {
      const a = await h.call('POST', '/v1/keys/emails/tokenize', { value: 'ann@example.com' }, BILLING);
      const b = await h.call('POST', '/v1/keys/emails/tokenize', { value: 'ann@example.com' }, BILLING);
      assert.match(String(a.body['token']), /^tok_[A-Za-z0-9_-]{24}$/);
      assert.notEqual(a.body['token'], b.body['token']);
    });

    it('does not detokenize for a caller that may only tokenize, nor through another vault', async () => {
      const { body } = await h.call(
        'POST',
        '/v1/keys/cards/tokenize',
        { value: '4111111111111111', format: 'card' },
        SUPPORT,
      );
      const token = String(body['token']);
      const refused = await h.call('POST', '/v1/keys/cards/detokenize', { token }, SUPPORT);
      assert.equal(refused.status, 403);
      assert.equal(refused.body['code'], 'keys_forbidden');
      assert.equal(JSON.stringify(refused.body).includes('4111111111111111'), false);
      // BILLING may detokenize `emails`, but a `cards` token is not in that vault.
      const crossVault = await h.call('POST', '/v1/keys/emails/detokenize', { token }, BILLING);
      assert.equal(crossVault.body['code'], 'keys_token_not_found');
      const unknown = await h.call(
        'POST',
        '/v1/keys/cards/detokenize',
        { token: '4000000000000000' },
        BILLING,
      );
      assert.equal(unknown.body['code'], 'keys_token_not_found');
    });

    it('refuses values that do not fit the card shape', async () => {
      const res = await h.call(
        'POST',
        '/v1/keys/cards/tokenize',
        { value: 'not a card', format: 'card' },
        BILLING,
      );
      assert.equal(res.body['code'], 'keys_token_format');
    });

    it('makes a subject unreadable once its key is erased, and keeps it erased', async () => {
      const subject = 'alice@example.com';
      const enc = await h.call(
        'POST',
        '/v1/subjects/encrypt',
        { subject, batch: [{ plaintext: b64('Alice Liddell'), context: { field: 'name' } }] },
        AUDIT,
      );
      const ciphertext = (enc.body['batch_results'] as { ciphertext: string }[])[0]!.ciphertext;
      const dec = await h.call(
        'POST',
        '/v1/subjects/decrypt',
        { subject, batch: [{ ciphertext, context: { field: 'name' } }] },
        AUDIT,
      );
      assert.equal(
        text((dec.body['batch_results'] as { plaintext: string }[])[0]!.plaintext),
        'Alice Liddell',
      );
      // Another subject's key does not open it.
      const other = await h.call(
        'POST',
        '/v1/subjects/decrypt',
        { subject: 'bob@example.com', batch: [{ ciphertext, context: { field: 'name' } }] },
        AUDIT,
      );
      assert.notEqual(other.status, 200);
      assert.equal(
        (await h.call('POST', '/v1/subjects/erase', { subject }, AUDIT)).status,
        403,
        'only the DPO list may erase',
      );
      const erased = await h.call('POST', '/v1/subjects/erase', { subject }, DPO);
      assert.equal(erased.body['erased'], true);
      assert.match(String(erased.body['subject_ref']), /^subj_/);
      const gone = await h.call(
        'POST',
        '/v1/subjects/decrypt',
        { subject, batch: [{ ciphertext, context: { field: 'name' } }] },
        AUDIT,
      );
      assert.equal(gone.status, 410);
      assert.equal(gone.body['code'], 'keys_subject_erased');
      const again = await h.call(
        'POST',
        '/v1/subjects/encrypt',
        { subject, batch: [{ plaintext: b64('x') }] },
        AUDIT,
      );
      assert.equal(
        again.body['code'],
        'keys_subject_erased',
        'an erased subject cannot be re-keyed silently',
      );
      const events = JSON.stringify(h.audit.events);
      assert.equal(events.includes(subject), false, 'audit names the subject reference, not the id');
      assert.equal(h.logs.join('').includes(subject), false);
    });
  });
}
