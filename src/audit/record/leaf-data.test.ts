import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from './canonical-json.ts';
import { contentOf, leafData, leafParts } from './leaf-data.ts';
import type { AuditRecord } from './record-schema.ts';

const str = fc.string({ unit: 'binary', maxLength: 12 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const record: fc.Arbitrary<AuditRecord> = fc
  .record({
    id: str,
    time: str,
    actor: fc.record({
      type: fc.constantFrom('user', 'service', 'client', 'system'),
      id: str,
      name: opt(str),
    }),
    action: str,
    target: opt(fc.record({ type: str, id: str })),
    outcome: fc.constantFrom('success', 'failure', 'unknown'),
    reason: opt(str),
    source: opt(fc.record({ component: str, ip: opt(str) })),
    requestId: opt(str),
    traceId: opt(str),
    category: str,
    details: opt(fc.dictionary(str, fc.jsonValue({ maxDepth: 3 }))),
    submitter: opt(str),
  })
  .map((r) => JSON.parse(JSON.stringify(r)) as AuditRecord);

describe('leaf data', () => {
  it('is byte for byte the RFC 8785 canonical JSON of the record with its index', () => {
    fc.assert(
      fc.property(record, fc.nat(), (r, index) => {
        assert.equal(leafData(r, index), canonicalJson({ ...r, index }));
      }),
      { numRuns: 2000 },
    );
  });

  it('cut into parts around the index, gives back the canonical JSON of the record without it', () => {
    fc.assert(
      fc.property(record, (r) => {
        assert.equal(contentOf(leafParts(r)), canonicalJson(r));
      }),
      { numRuns: 2000 },
    );
  });
});
