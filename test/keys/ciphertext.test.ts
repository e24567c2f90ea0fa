/**
 * Attacks on ciphertexts, in-process on both engines: every tampering fails with a clear code and no
 * plaintext (not even a partial one), and version rules (min_decryption_version, trimmed versions) hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCiphertext, parseCiphertext } from '../../src/keys/index.ts';
import { ENGINES, inProcessKeys } from './fixture.ts';

const code = (err: unknown) => (err as { code?: string }).code;

for (const engine of ENGINES) {
  describe(`named-key ciphertexts on ${engine}`, () => {
    let k: Awaited<ReturnType<typeof inProcessKeys>>;
    const ctx = { tenant: 't1', record: 'r42', field: 'ssn' };
    const pt = Buffer.from('123-45-6789');

    before(async () => {
      k = await inProcessKeys(engine);
      await k.keyring.create({ name: 'pii', type: 'aes256-gcm' });
      await k.keyring.create({ name: 'other', type: 'aes256-gcm' });
      await k.keyring.create({ name: 'search', type: 'aes256-gcm-siv' });
    });
    after(() => k.close());

    const decryptOne = async (name: string, ciphertext: string, context: Record<string, string> = ctx) => {
      const [r] = await k.transit.decrypt(name, [{ ciphertext, context }]);
      if (!r!.ok) throw r!.error;
      return r!.value;
    };

    it('round-trips values of any length with their context', async () => {
      const values = [Buffer.alloc(0), Buffer.from('x'), pt, Buffer.alloc(70_000, 7)];
      const cts = await k.transit.encrypt(
        'pii',
        values.map((plaintext) => ({ plaintext, context: ctx })),
      );
      for (const [i, ct] of cts.entries()) {
        assert.match(ct, /^bulwark:v1:[A-Za-z0-9_-]+$/);
        assert.deepEqual(await decryptOne('pii', ct), values[i]);
      }
    });

    it('gives two encryptions of the same value different ciphertexts (random nonces)', async () => {
      const [a, b] = await k.transit.encrypt('pii', [
        { plaintext: pt, context: ctx },
        { plaintext: pt, context: ctx },
      ]);
      assert.notEqual(a, b);
    });

    it('refuses every single flipped bit of the payload with keys_decrypt_failed or keys_ciphertext_malformed', async () => {
      const [ct] = await k.transit.encrypt('pii', [{ plaintext: pt, context: ctx }]);
      const { version, payload } = parseCiphertext(ct);
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: payload.byteLength * 8 - 1 }), async (bit) => {
          const forged = Buffer.from(payload);
          forged[bit >> 3]! ^= 1 << (bit & 7);
          const results = await k.transit.decrypt('pii', [
            { ciphertext: formatCiphertext(version, forged), context: ctx },
          ]);
          const [r] = results;
          assert.equal(r!.ok, false);
          if (!r!.ok) assert.ok(['keys_decrypt_failed', 'keys_ciphertext_malformed'].includes(r!.error.code));
        }),
        { numRuns: 60 },
      );
      // Every bit, exhaustively, is cheap enough for a 27-byte payload's first bytes too.
      for (let bit = 0; bit < payload.byteLength * 8; bit += 5) {
        const forged = Buffer.from(payload);
        forged[bit >> 3]! ^= 1 << (bit & 7);
        await assert.rejects(decryptOne('pii', formatCiphertext(version, forged)), (e) =>
          ['keys_decrypt_failed', 'keys_ciphertext_malformed'].includes(code(e)!),
        );
      }
    });

    it('refuses a wrong associated-data value (another record, tenant or field, or none)', async () => {
      const [ct] = await k.transit.encrypt('pii', [{ plaintext: pt, context: ctx }]);
      const wrongs: Record<string, string>[] = [
        { ...ctx, record: 'r43' },
        { ...ctx, tenant: 't2' },
        { ...ctx, field: 'email' },
        { tenant: 't1', record: 'r42' },
        {},
      ];
      for (const wrong of wrongs) {
        await assert.rejects(decryptOne('pii', ct!, wrong), (e) => code(e) === 'keys_decrypt_failed');
      }
    });

    it('refuses truncated ciphertexts at every length without returning plaintext', async () => {
      const [ct] = await k.transit.encrypt('pii', [{ plaintext: pt, context: ctx }]);
      for (let cut = 1; cut < ct!.length; cut++) {
        const [r] = await k.transit.decrypt('pii', [{ ciphertext: ct!.slice(0, cut), context: ctx }]);
        assert.equal(r!.ok, false, `truncated to ${cut} characters decrypted`);
        if (!r!.ok) {
          assert.ok(
            ['keys_decrypt_failed', 'keys_ciphertext_malformed'].includes(r!.error.code),
            r!.error.code,
          );
        }
      }
    });

    it('refuses a ciphertext made with another key, even with the same context and version', async () => {
      const [ct] = await k.transit.encrypt('other', [{ plaintext: pt, context: ctx }]);
      await assert.rejects(decryptOne('pii', ct!), (e) => code(e) === 'keys_decrypt_failed');
    });

    it('refuses off-format text: no prefix, bad version, non-canonical base64url', async () => {
      const [ct] = await k.transit.encrypt('pii', [{ plaintext: pt, context: ctx }]);
      const body = ct!.slice('bulwark:v1:'.length);
      for (const bad of [
        '',
        'hello',
        `vault:v1:${body}`,
        `bulwark:v0:${body}`,
        `bulwark:v01:${body}`,
        `bulwark:vx:${body}`,
        `bulwark:v1:${body}!`,
        `bulwark:v1:${body}=`,
      ]) {
        await assert.rejects(decryptOne('pii', bad), (e) => code(e) === 'keys_ciphertext_malformed', bad);
      }
    });

    it('refuses a version that does not exist with keys_version_unknown', async () => {
      const [ct] = await k.transit.encrypt('pii', [{ plaintext: pt, context: ctx }]);
      await assert.rejects(
        decryptOne('pii', ct!.replace('bulwark:v1:', 'bulwark:v9:')),
        (e) => code(e) === 'keys_version_unknown',
      );
    });

    it('rotates, rewraps to the newest version, refuses below min_decryption_version, then trims', async () => {
      await k.keyring.create({ name: 'rot', type: 'aes256-gcm' });
      const [v1] = await k.transit.encrypt('rot', [{ plaintext: pt, context: ctx }]);
      assert.equal(await k.keyring.rotate('rot'), 2);
      const [v2] = await k.transit.encrypt('rot', [{ plaintext: pt, context: ctx }]);
      assert.match(v2!, /^bulwark:v2:/);
      assert.deepEqual(await decryptOne('rot', v1!), pt, 'old versions still decrypt after rotation');
      assert.equal(await k.keyring.rotate('rot'), 3);
      const [rewrapped] = await k.transit.rewrap('rot', [{ ciphertext: v1!, context: ctx }]);
      assert.ok(rewrapped!.ok);
      if (rewrapped!.ok) {
        assert.match(rewrapped!.value, /^bulwark:v3:/);
        assert.deepEqual(await decryptOne('rot', rewrapped!.value), pt);
      }
      await k.keyring.configure('rot', { minDecryptionVersion: 3 });
      await assert.rejects(decryptOne('rot', v1!), (e) => code(e) === 'keys_version_below_minimum');
      await assert.rejects(decryptOne('rot', v2!), (e) => code(e) === 'keys_version_below_minimum');
      const [rewrapOld] = await k.transit.rewrap('rot', [{ ciphertext: v2!, context: ctx }]);
      assert.equal(rewrapOld!.ok, false, 'rewrap must not launder a version below the minimum');
      await assert.rejects(k.keyring.trim('rot', 4), (e) => code(e) === 'keys_invalid_version_setting');
      assert.equal(await k.keyring.trim('rot', 3), 2);
      await assert.rejects(decryptOne('rot', v1!), (e) => code(e) === 'keys_version_unknown');
      await assert.rejects(
        k.keyring.configure('rot', { minDecryptionVersion: 2 }),
        (e) => code(e) === 'keys_invalid_version_setting',
      );
      assert.deepEqual(
        (await k.keyring.versions('rot')).map((v) => v.version),
        [3],
      );
    });

    it('finds a record by its deterministic ciphertext (AES-GCM-SIV), and binds it to its field', async () => {
      const emails = ['ann@example.com', 'bob@example.com', 'cy@example.com'];
      const fieldCtx = { tenant: 't1', field: 'email' };
      const column = await k.transit.encrypt(
        'search',
        emails.map((e) => ({ plaintext: Buffer.from(e), context: fieldCtx })),
      );
      const [needle] = await k.transit.encrypt('search', [
        { plaintext: Buffer.from('bob@example.com'), context: fieldCtx },
      ]);
      assert.equal(column.indexOf(needle!), 1);
      const [otherField] = await k.transit.encrypt('search', [
        { plaintext: Buffer.from('bob@example.com'), context: { tenant: 't2', field: 'email' } },
      ]);
      assert.equal(column.indexOf(otherField!), -1, 'another tenant gets other ciphertexts');
      assert.deepEqual(await decryptOne('search', needle!, fieldCtx), Buffer.from('bob@example.com'));
      const forged = parseCiphertext(needle!);
      forged.payload[5]! ^= 0x80;
      await assert.rejects(
        decryptOne('search', formatCiphertext(1, forged.payload), fieldCtx),
        (e) => code(e) === 'keys_decrypt_failed',
      );
    });

    it('refuses operations a key type does not support', async () => {
      await k.keyring.create({ name: 'mac', type: 'hmac-sha256' });
      await assert.rejects(
        k.transit.encrypt('mac', [{ plaintext: pt }]),
        (e) => code(e) === 'keys_wrong_key_type',
      );
      await assert.rejects(k.transit.sign('pii', [pt]), (e) => code(e) === 'keys_wrong_key_type');
    });
  });
}
