/** The one-pass JSON shape check (fast-check): duplicate member names and depth, found without parsing. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { jsonShapeError } from './request-schema.ts';

const text = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('jsonShapeError', () => {
  test('JSON made by JSON.stringify (unique names in every object) passes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        assert.equal(jsonShapeError(text(value), 64), undefined);
      }),
      { numRuns: 1000 },
    );
  });

  test('a name given twice in any one object is found, however it is escaped and wherever it sits', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (around, name, spelledOut) => {
          // The second copy of the name spelled with \u escapes, which JSON.parse reads as the same name.
          const again = spelledOut
            ? `"${[...name].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`
            : JSON.stringify(name);
          const object = `{${JSON.stringify(name)}:1,"other":${JSON.stringify(around)},${again}:2}`;
          const nested = Buffer.from(`[${JSON.stringify(around)},{"x":${object}}]`);
          assert.equal(jsonShapeError(nested, 64), 'duplicate_member', nested.toString());
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('large objects: a late duplicate is found, and 100,000 distinct names cost one lookup each', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `"n${String(i).padStart(6, '0')}":${i}`);
    assert.equal(
      jsonShapeError(Buffer.from(`{${[...names(40), '"n000030":1'].join(',')}}`), 8),
      'duplicate_member',
    );
    assert.equal(
      jsonShapeError(Buffer.from(`{${[...names(20), '"\\u006e000003":1'].join(',')}}`), 8),
      'duplicate_member',
    );
    const big = Buffer.from(`{${names(100_000).join(',')}}`);
    const started = performance.now();
    assert.equal(jsonShapeError(big, 8), undefined);
    // Comparing each name with every other would take minutes; a Set takes milliseconds.
    assert.ok(performance.now() - started < 2_000, `${performance.now() - started} ms`);
  });

  test('nesting beyond the limit is too deep, at the limit it is not', () => {
    assert.equal(jsonShapeError(Buffer.from(`${'['.repeat(10)}${']'.repeat(10)}`), 10), undefined);
    assert.equal(jsonShapeError(Buffer.from(`${'['.repeat(11)}${']'.repeat(11)}`), 10), 'too_deep');
    assert.equal(jsonShapeError(Buffer.from('{"a":"[[[[[[[[[[[["}'), 3), undefined);
  });
});
