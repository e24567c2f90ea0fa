import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renewalDelay } from './rotating-credentials.ts';

describe('renewal schedule', () => {
  it('renews at half-life, earlier by up to a tenth of the lifetime with jitter, never in the past', () => {
    const hour = 3_600_000;
    assert.equal(renewalDelay(0, hour, 0, 0), hour / 2);
    assert.equal(renewalDelay(0, hour, 0, 1), hour / 2 - hour / 10);
    assert.equal(renewalDelay(0, hour, hour, 0.5), 0);
    const spread = new Set([0, 0.25, 0.5, 0.75].map((j) => renewalDelay(0, hour, 0, j)));
    assert.equal(spread.size, 4, 'different jitter, different moment');
  });
});
