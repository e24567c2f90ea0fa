import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseRecord } from './record-schema.ts';
import { sensitivePolicy } from './sensitive-fields.ts';

const options = {
  policy: sensitivePolicy({ secretKeys: [], hashKeys: [], maskKeys: [] }, Buffer.alloc(32, 1)),
  now: Date.UTC(2026, 5, 1),
  maxClockSkewMs: 300_000,
};
const event = (time: string) => ({
  id: 'rec-time-000001',
  time,
  actor: { type: 'user', id: 'alice' },
  action: 'identity.login',
  outcome: 'success',
});

describe('record schema', () => {
  it('refuses a time that is before year 0000 in UTC', () => {
    // 0000-01-01T00:00:00+00:01 is 1 BC in UTC, stored as -000001-12-31T23:59:00.000Z: not an RFC 5424
    // syslog TIMESTAMP (4DIGIT year) nor an ECS date, and a time search (years 0000-9999) cannot name it.
    // A record under a legal hold of its category is kept however old, so it reached the log and exports.
    for (const time of ['0000-01-01T00:00:00+00:01', '0000-01-01T00:00:00+23:59']) {
      assert.throws(() => normaliseRecord(event(time), 'records[0]', options), {
        code: 'audit_schema',
        message: /records\[0\]\.time/,
      });
    }
    assert.equal(
      normaliseRecord(event('0000-01-01T00:00:00-01:00'), 'records[0]', options).time,
      '0000-01-01T01:00:00.000Z',
    );
  });
});
