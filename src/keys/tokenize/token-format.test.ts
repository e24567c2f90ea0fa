import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { luhn, makeToken } from './token-format.ts';

describe('token shapes', () => {
  it('makes card tokens of the same length, keeping the last digits, never Luhn-valid (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{13,19}$/), fc.integer({ min: 0, max: 4 }), (pan, keep) => {
        const token = makeToken({ value: pan, format: 'card', keepLast: keep }, randomBytes);
        assert.match(token, /^\d+$/);
        assert.equal(token.length, pan.length);
        assert.equal(token.slice(pan.length - keep), pan.slice(pan.length - keep));
        assert.equal(luhn(token), false);
      }),
    );
  });

  it('draws digits uniformly: no digit is favoured over 200,000 draws', () => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      for (const d of makeToken({ value: '1'.repeat(20), format: 'digits' }, randomBytes))
        counts[Number(d)]++;
    }
    for (const c of counts) assert.ok(Math.abs(c - 20_000) < 1_000, `digit count ${c} is off`);
  });

  it('refuses values that are not card numbers and keeps at most four digits', () => {
    assert.throws(() => makeToken({ value: '4111-1111', format: 'card' }, randomBytes), /13-19/);
    assert.throws(
      () => makeToken({ value: '4111111111111111', format: 'card', keepLast: 6 }, randomBytes),
      /keep_last/,
    );
  });

  it('makes random tokens with 144 bits of randomness', () => {
    assert.match(makeToken({ value: 'x', format: 'random' }, randomBytes), /^tok_[A-Za-z0-9_-]{24}$/);
  });
});
