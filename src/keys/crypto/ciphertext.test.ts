import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BulwarkError } from '../../core/index.ts';
import { formatCiphertext, MAX_VERSION, parseCiphertext } from './ciphertext.ts';
import { canonicalContext } from './context.ts';

describe('ciphertext text form', () => {
  it('parses back exactly what it formats (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_VERSION }),
        fc.uint8Array({ maxLength: 200 }),
        (version, payload) => {
          const parsed = parseCiphertext(formatCiphertext(version, payload));
          assert.equal(parsed.version, version);
          assert.deepEqual(new Uint8Array(parsed.payload), payload);
        },
      ),
    );
  });

  it('answers any other string with keys_ciphertext_malformed or a canonical parse, never another error (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `bulwark:v${s}`),
          fc.string().map((s) => `bulwark:v1:${s}`),
        ),
        (text) => {
          try {
            const { version, payload } = parseCiphertext(text);
            assert.equal(formatCiphertext(version, payload), text, 'only canonical texts parse');
          } catch (err) {
            assert.ok(err instanceof BulwarkError);
            assert.equal(err.code, 'keys_ciphertext_malformed');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses versions out of range and non-string input', () => {
    for (const bad of [`bulwark:v${MAX_VERSION + 1}:AA`, 'bulwark:v0:AA', 42, null]) {
      assert.throws(
        () => parseCiphertext(bad),
        (e) => (e as BulwarkError).code === 'keys_ciphertext_malformed',
      );
    }
  });
});

describe('canonical context', () => {
  it('does not depend on key order and tells different contexts apart (property)', () => {
    const dict = fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 20 }), {
      maxKeys: 8,
    });
    fc.assert(
      fc.property(dict, dict, (a, b) => {
        const reversed = Object.fromEntries(Object.entries(a).reverse());
        assert.equal(canonicalContext(a), canonicalContext(reversed));
        const same = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
        assert.equal(canonicalContext(a) === canonicalContext(b), same);
      }),
    );
  });

  it('refuses keys outside the allowed alphabet', () => {
    assert.throws(() => canonicalContext({ 'a b': 'x' }), TypeError);
  });
});
