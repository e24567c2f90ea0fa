import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { openPii, parsePii, sealPii } from './sealed-pii.ts';

const key = createSecretKey(randomBytes(32));
const wrapped = `bulwark:v1:${randomBytes(61).toString('base64url')}`;

describe('sealed personal data', () => {
  it('never carries the value in clear, opens only under its record id and path, and refuses a flipped bit', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4, maxLength: 64 }), fc.string({ minLength: 1 }), (value, id) => {
        const sealed = sealPii(key, wrapped, 'a', id, ['details', 'email'], value);
        assert.ok(!sealed.includes(JSON.stringify(value)));
        const parsed = parsePii(sealed)!;
        assert.equal(parsed.wrapped, wrapped);
        assert.equal(openPii(key, parsed, id, ['details', 'email']), value);
        assert.equal(openPii(key, parsed, `${id}x`, ['details', 'email']), undefined, 'another record');
        assert.equal(openPii(key, parsed, id, ['details', 'phone']), undefined, 'another field');
        assert.equal(
          openPii(key, { ...parsed, role: 't' }, id, ['details', 'email']),
          undefined,
          'another role',
        );
        const flipped = Buffer.from(parsed.payload);
        flipped[flipped.length - 1]! ^= 1;
        assert.equal(openPii(key, { ...parsed, payload: flipped }, id, ['details', 'email']), undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('parses only its own format', () => {
    for (const bad of [
      'bulwark:pii1:x:w.AAAA',
      'bulwark:pii1:a:nodot',
      'bulwark:pii1:a:w.AA',
      'alice@example.com',
    ])
      assert.equal(parsePii(bad), undefined, bad);
  });
});
