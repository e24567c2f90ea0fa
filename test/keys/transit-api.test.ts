/**
 * The transit API over real HTTPS on both engines: authorisation per key and caller, batch input with
 * per-item errors, every operation, and audit events that carry counts but never values.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN, b64, ENGINES, type KeysHarness, startKeys, text } from './fixture.ts';

const APP = 'spiffe://bulwark.test/ns/orders/app';
const OTHER = 'spiffe://bulwark.test/ns/evil/app';

for (const engine of ENGINES) {
  describe(`transit API on ${engine}`, () => {
    let h: KeysHarness;
    before(async () => {
      h = await startKeys({ engine });
      const all = { encrypt: [APP], decrypt: [APP], rewrap: [APP], datakey: [APP], read: [APP] };
      for (const [name, type, acl] of [
        ['orders', 'aes256-gcm', all],
        ['lookup', 'aes256-gcm-siv', all],
        ['mac', 'hmac-sha256', { hmac: [APP], verify: [APP] }],
        ['signer', 'ed25519', { sign: [APP], verify: ['spiffe://bulwark.test/ns/*'], read: [APP] }],
      ] as const) {
        const res = await h.call('POST', '/v1/keys', { name, type, acl });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
    });
    after(() => h.stop());

    it('round-trips a single value and a batch bound to their contexts', async () => {
      const ctx = { tenant: 't1', record: 'o-1', field: 'address' };
      const one = await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { plaintext: b64('1 Main St'), context: ctx },
        APP,
      );
      assert.equal(one.status, 200);
      const back = await h.call(
        'POST',
        '/v1/keys/orders/decrypt',
        { ciphertext: one.body['ciphertext'], context: ctx },
        APP,
      );
      assert.equal(text(back.body['plaintext']), '1 Main St');
      const values = ['a', 'b', 'c'].map((v, i) => ({
        plaintext: b64(v),
        context: { tenant: 't1', record: String(i) },
      }));
      const batch = await h.call('POST', '/v1/keys/orders/encrypt', { batch: values }, APP);
      const cts = (batch.body['batch_results'] as { ciphertext: string }[]).map((r) => r.ciphertext);
      assert.equal(cts.length, 3);
      const decrypted = await h.call(
        'POST',
        '/v1/keys/orders/decrypt',
        {
          batch: [
            { ciphertext: cts[0], context: { tenant: 't1', record: '0' } },
            { ciphertext: cts[1], context: { tenant: 't1', record: '9' } },
            { ciphertext: 'bulwark:v1:AAAA' },
          ],
        },
        APP,
      );
      const results = decrypted.body['batch_results'] as Record<
        string,
        { code: string } & Record<string, unknown>
      >[];
      assert.equal(text(results[0]!['plaintext']), 'a');
      assert.equal(results[1]!['error']!.code, 'keys_decrypt_failed');
      assert.equal(results[1]!['plaintext'], undefined);
      assert.equal(results[2]!['error']!.code, 'keys_ciphertext_malformed');
    });

    it('refuses a request without a caller header (401) and a caller not on the key list (403)', async () => {
      const noCaller = await h.call('POST', '/v1/keys/orders/encrypt', { plaintext: b64('x') }, null);
      assert.equal(noCaller.status, 401);
      assert.equal(noCaller.body['code'], 'keys_unauthenticated');
      const [ct] = (
        (await h.call('POST', '/v1/keys/orders/encrypt', { batch: [{ plaintext: b64('secret') }] }, APP))
          .body['batch_results'] as {
          ciphertext: string;
        }[]
      ).map((r) => r.ciphertext);
      for (const path of ['decrypt', 'rewrap']) {
        const res = await h.call('POST', `/v1/keys/orders/${path}`, { ciphertext: ct }, OTHER);
        assert.equal(res.status, 403, path);
        assert.equal(res.body['code'], 'keys_forbidden');
        assert.equal(JSON.stringify(res.body).includes('secret'), false);
      }
      // A list entry for `sign` does not allow `decrypt`, and an allowed key does not open another key.
      assert.equal((await h.call('POST', '/v1/keys/mac/hmac', { input: b64('x') }, OTHER)).status, 403);
      assert.equal((await h.call('POST', '/v1/keys/orders/hmac', { input: b64('x') }, APP)).status, 403);
    });

    it('answers an unknown key like a forbidden one to non-admins, and 404 to admins', async () => {
      const probe = await h.call('POST', '/v1/keys/nope/encrypt', { plaintext: b64('x') }, OTHER);
      assert.equal(probe.status, 403);
      const admin = await h.call('POST', '/v1/keys/nope/encrypt', { plaintext: b64('x') }, ADMIN);
      assert.equal(admin.status, 404);
      assert.equal(admin.body['code'], 'keys_key_not_found');
    });

    it('keeps key management to admins', async () => {
      for (const [method, path, body] of [
        ['POST', '/v1/keys', { name: 'mine', type: 'aes256-gcm' }],
        ['GET', '/v1/keys', undefined],
        ['POST', '/v1/keys/orders/rotate', undefined],
        ['PATCH', '/v1/keys/orders/config', { acl: { decrypt: [OTHER] } }],
        ['POST', '/v1/keys/orders/trim', { min_available_version: 1 }],
      ] as const) {
        const res = await h.call(method, path, body, APP);
        assert.equal(res.status, 403, `${method} ${path}`);
      }
      assert.equal((await h.call('GET', '/v1/keys', undefined, ADMIN)).status, 200);
      const dup = await h.call('POST', '/v1/keys', { name: 'orders', type: 'aes256-gcm' });
      assert.equal(dup.body['code'], 'keys_key_exists');
    });

    it('rotates, rewraps and enforces min_decryption_version through the API', async () => {
      const old = await h.call('POST', '/v1/keys/orders/encrypt', { plaintext: b64('v1 value') }, APP);
      const rotated = await h.call('POST', '/v1/keys/orders/rotate');
      assert.equal(rotated.body['latest_version'], 2);
      const rewrapped = await h.call(
        'POST',
        '/v1/keys/orders/rewrap',
        { ciphertext: old.body['ciphertext'] },
        APP,
      );
      assert.match(String(rewrapped.body['ciphertext']), /^bulwark:v2:/);
      assert.equal(
        JSON.stringify(rewrapped.body).includes(b64('v1 value')),
        false,
        'rewrap returned plaintext',
      );
      const config = await h.call('PATCH', '/v1/keys/orders/config', { min_decryption_version: 2 });
      assert.equal(config.body['min_decryption_version'], 2);
      const refused = await h.call(
        'POST',
        '/v1/keys/orders/decrypt',
        { ciphertext: old.body['ciphertext'] },
        APP,
      );
      assert.equal(refused.status, 400);
      assert.equal(refused.body['code'], 'keys_version_below_minimum');
      const ok = await h.call(
        'POST',
        '/v1/keys/orders/decrypt',
        { ciphertext: rewrapped.body['ciphertext'] },
        APP,
      );
      assert.equal(text(ok.body['plaintext']), 'v1 value');
      const trimmed = await h.call('POST', '/v1/keys/orders/trim', { min_available_version: 2 });
      assert.equal(trimmed.body['removed_versions'], 1);
      const tooFar = await h.call('POST', '/v1/keys/orders/trim', { min_available_version: 3 });
      assert.equal(tooFar.body['code'], 'keys_invalid_version_setting');
    });

    it('issues data keys with and without plaintext, and the wrapped form unwraps to the same key', async () => {
      const both = await h.call(
        'POST',
        '/v1/keys/orders/datakey/plaintext',
        { context: { tenant: 't1' } },
        APP,
      );
      assert.equal(Buffer.from(String(both.body['plaintext']), 'base64').byteLength, 32);
      const unwrapped = await h.call(
        'POST',
        '/v1/keys/orders/decrypt',
        { ciphertext: both.body['ciphertext'], context: { tenant: 't1', purpose: 'datakey' } },
        APP,
      );
      assert.equal(unwrapped.body['plaintext'], both.body['plaintext']);
      // A wrapped data key is not an ordinary ciphertext: without the purpose it does not decrypt.
      const plain = await h.call(
        'POST',
        '/v1/keys/orders/decrypt',
        { ciphertext: both.body['ciphertext'], context: { tenant: 't1' } },
        APP,
      );
      assert.equal(plain.body['code'], 'keys_decrypt_failed');
      const wrappedOnly = await h.call('POST', '/v1/keys/orders/datakey/wrapped', { batch: [{}, {}] }, APP);
      const rows = wrappedOnly.body['batch_results'] as Record<string, unknown>[];
      assert.equal(rows.length, 2);
      for (const row of rows) assert.deepEqual(Object.keys(row), ['ciphertext']);
    });

    it('computes and verifies HMACs, and rejects a forged one', async () => {
      const mac = await h.call(
        'POST',
        '/v1/keys/mac/hmac',
        { batch: [{ input: b64('amount=10') }, { input: b64('amount=11') }] },
        APP,
      );
      const [m1, m2] = (mac.body['batch_results'] as { hmac: string }[]).map((r) => r.hmac);
      assert.notEqual(m1, m2);
      const check = await h.call(
        'POST',
        '/v1/keys/mac/verify',
        {
          batch: [
            { input: b64('amount=10'), signature: m1 },
            { input: b64('amount=10'), signature: m2 },
          ],
        },
        APP,
      );
      assert.deepEqual(check.body['batch_results'], [{ valid: true }, { valid: false }]);
    });

    it('signs with Ed25519; the signature verifies with the published public key and a change breaks it', async () => {
      const signed = await h.call('POST', '/v1/keys/signer/sign', { input: b64('release 1.2.3') }, APP);
      const signature = String(signed.body['signature']);
      const info = await h.call('GET', '/v1/keys/signer', undefined, APP);
      const [version] = info.body['versions'] as { public_key: string }[];
      const publicKey = createPublicKey({
        key: Buffer.from(version!.public_key, 'base64'),
        format: 'der',
        type: 'spki',
      });
      const raw = Buffer.from(signature.split(':')[2]!, 'base64url');
      assert.equal(verify(null, Buffer.from('release 1.2.3'), publicKey, raw), true);
      assert.equal(JSON.stringify(info.body).includes('private'), false);
      const verifier = 'spiffe://bulwark.test/ns/any/verifier';
      const good = await h.call(
        'POST',
        '/v1/keys/signer/verify',
        { input: b64('release 1.2.3'), signature },
        verifier,
      );
      assert.equal(good.body['valid'], true);
      const bad = await h.call(
        'POST',
        '/v1/keys/signer/verify',
        { input: b64('release 1.2.4'), signature },
        verifier,
      );
      assert.equal(bad.body['valid'], false);
    });

    it('validates bodies: both shapes at once, bad context keys and oversized batches are refused', async () => {
      const mixed = await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { plaintext: b64('x'), batch: [{ plaintext: b64('y') }] },
        APP,
      );
      assert.equal(mixed.status, 400);
      const badContext = await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { plaintext: b64('x'), context: { 'bad key': 'v' } },
        APP,
      );
      assert.equal(badContext.status, 400);
      const tooMany = await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { batch: Array.from({ length: 1001 }, () => ({ plaintext: b64('x') })) },
        APP,
      );
      assert.equal(tooMany.status, 400);
      const empty = await h.call('POST', '/v1/keys/orders/encrypt', {}, APP);
      assert.equal(empty.status, 400);
      // A misspelt field is refused, not dropped (which would encrypt without the intended context).
      const typo = await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { plaintext: b64('x'), contxt: { tenant: 't1' } },
        APP,
      );
      assert.equal(typo.status, 400);
      const typed = await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { plaintext: b64('x'), context: { tenant: 7 } },
        APP,
      );
      assert.equal(typed.status, 400, 'numbers are not coerced to strings');
    });

    it('audits every operation with caller, key and counts, never a value', async () => {
      const secret = 'audit-canary-4111';
      await h.call(
        'POST',
        '/v1/keys/orders/encrypt',
        { plaintext: b64(secret), context: { tenant: 'canary' } },
        APP,
      );
      await h.call('POST', '/v1/keys/orders/decrypt', { ciphertext: 'bulwark:v2:AAAA' }, OTHER);
      const events = h.audit.events;
      const encrypt = events.findLast((e) => e.action === 'keys.encrypt' && e.outcome === 'success');
      assert.deepEqual(encrypt?.actor, { type: 'service', id: APP });
      assert.deepEqual(encrypt?.target, { type: 'key', id: 'orders' });
      assert.equal(encrypt?.details?.['count'], 1);
      const refused = events.findLast((e) => e.action === 'keys.decrypt' && e.outcome === 'failure');
      assert.equal(refused?.actor.id, OTHER);
      assert.equal(refused?.reason, 'forbidden');
      const all = JSON.stringify(events);
      assert.equal(all.includes(secret) || all.includes(b64(secret)) || all.includes('bulwark:v'), false);
    });
  });
}
