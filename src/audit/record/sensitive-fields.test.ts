import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protectDetails, sensitivePolicy } from './sensitive-fields.ts';

const policy = sensitivePolicy(
  { secretKeys: ['password'], hashKeys: ['email'], maskKeys: ['cardNumber'] },
  Buffer.alloc(32, 1),
);

describe('sensitive fields', () => {
  it('masks by characters, never leaving half a surrogate pair in the log', () => {
    // A lone surrogate is what the record schema refuses on the way in (no RFC 8785 canonical form; other
    // verifiers read it as U+FFFD): the mask kept the last four UTF-16 units and could cut a pair in two.
    const out = protectDetails({ cardNumber: 'x🙂123', iban: 'ok' }, policy, 'details') as Record<
      string,
      string
    >;
    assert.ok(out['cardNumber']!.isWellFormed(), JSON.stringify(out['cardNumber']));
    assert.equal(out['cardNumber'], '****🙂123');
    assert.equal(
      (protectDetails({ cardNumber: '🙂🙂🙂🙂' }, policy, 'details') as Record<string, string>)['cardNumber'],
      '****',
      'four characters or fewer are masked whole',
    );
  });
});
