/** Properties of the canonical path (fast-check): idempotent, and free of anything a second parser could read differently. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalTarget, DEFAULT_PATH_OPTIONS, removeDotSegments } from './canonical-path.ts';

const pieces = [
  'a',
  'admin',
  '.',
  '..',
  '',
  '%2e',
  '%2E%2e',
  '%2f',
  '%5c',
  '%25',
  '%41',
  ';',
  '~',
  '%00',
  '%e2%82%ac',
  'x y',
  '#',
  '\\',
];
const rawPath = fc
  .array(fc.constantFrom(...pieces), { maxLength: 8 })
  .map((segments) => `/${segments.join('/')}`);

describe('canonicalTarget', () => {
  test('an accepted path is canonical: feeding its wire form back gives the same path', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const first = canonicalTarget(raw, DEFAULT_PATH_OPTIONS);
        if (!first.ok) return;
        const second = canonicalTarget(first.upstreamPath, DEFAULT_PATH_OPTIONS);
        assert.ok(second.ok, `${raw} -> ${first.upstreamPath} rejected on the second pass`);
        assert.equal(second.path, first.path);
        assert.equal(second.upstreamPath, first.upstreamPath);
      }),
      { numRuns: 2000 },
    );
  });

  test('an accepted path has no dot segment, empty segment, backslash, NUL or leftover percent-encoding', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const r = canonicalTarget(raw, DEFAULT_PATH_OPTIONS);
        if (!r.ok) return;
        const segments = r.path.split('/').slice(1, -1);
        assert.ok(!segments.includes('.') && !segments.includes('..') && !segments.includes(''), r.path);
        assert.ok(!r.path.includes('\u0000') && !/[\\;#]|%[0-9a-f]{2}/i.test(r.path), r.path);
        assert.equal(decodeURIComponent(r.upstreamPath), r.path);
      }),
      { numRuns: 2000 },
    );
  });

  test('removeDotSegments follows RFC 3986 §5.2.4 examples', () => {
    assert.equal(removeDotSegments('/a/b/c/./../../g'), '/a/g');
    assert.equal(removeDotSegments('/mid/content=5/../6'), '/mid/6');
    assert.equal(removeDotSegments('/../../x'), '/x');
    assert.equal(removeDotSegments('/a/..'), '/');
    assert.equal(removeDotSegments('/a/.'), '/a/');
  });
});
