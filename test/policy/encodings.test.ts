/** The small parsers and encodings the engine relies on, checked with fast-check properties. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  arrayElementLines,
  canonicalJson,
  formatRef,
  parseEntityRef,
  uidKey,
} from '../../src/core/policy-engine/index.ts';

const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe('canonical JSON', () => {
  it('is the same for equal values whatever the key order, and parses back to the value', () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        assert.deepEqual(JSON.parse(text), value);
        const shuffled = JSON.parse(JSON.stringify(value), (_k, v) =>
          v && typeof v === 'object' && !Array.isArray(v)
            ? Object.fromEntries(Object.entries(v).reverse())
            : v,
        );
        assert.equal(canonicalJson(shuffled), text);
      }),
    );
  });

  it('differs for different values (injective)', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const equal = canonicalJson(a) === canonicalJson(b);
        if (equal) assert.deepEqual(a, b);
      }),
    );
  });

  it('refuses values JSON cannot represent exactly', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, () => 1, Symbol('x'), 10n]) {
      assert.throws(() => canonicalJson({ a: bad }), TypeError);
    }
  });
});

describe('entity references', () => {
  it('parse back what they format, for any id', () => {
    fc.assert(
      fc.property(fc.constantFrom('User', 'Route', 'Service', 'Other::Thing'), fc.string(), (type, id) => {
        const ref = parseEntityRef(`${type}::${JSON.stringify(id)}`);
        assert.equal(ref.id, id);
        assert.equal(ref.type, type.includes('::') ? type : `Bulwark::${type}`);
        assert.deepEqual(parseEntityRef(formatRef(ref)), ref);
        assert.equal(uidKey(ref), `${ref.type}::${JSON.stringify(id)}`);
      }),
    );
  });

  it('rejects text that is not an entity literal', () => {
    for (const bad of ['alice', 'User::alice', 'User::"a"x', '::"a"', 'User::"unterminated', 'User :: "a"']) {
      assert.throws(() => parseEntityRef(bad), TypeError, bad);
    }
  });
});

describe('entity line positions', () => {
  it('finds the line of every element of a JSON array, whatever the strings contain', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ id: fc.string(), n: fc.integer() }), { maxLength: 8 }), (items) => {
        const text = `[\n${items.map((i) => `  ${JSON.stringify(i)}`).join(',\n')}\n]`;
        assert.deepEqual(
          arrayElementLines(text),
          items.map((_, k) => k + 2),
        );
      }),
    );
  });
});
