import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../core/index.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { OutlierDetector } from './outlier-detector.ts';
import { RetryBudget } from './retry-budget.ts';

describe('circuit breaker', () => {
  it('opens after consecutive failures, fails fast, then lets one probe through and closes on success', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 1000 }, clock);
    for (let i = 0; i < 3; i++) breaker.failure();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.allow(), false);
    clock.advance(1000);
    assert.equal(breaker.allow(), true, 'one probe');
    assert.equal(breaker.allow(), false, 'only one probe at a time');
    breaker.success();
    assert.equal(breaker.state, 'closed');
  });

  it('re-opens when the half-open probe fails', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 500 }, clock);
    breaker.failure();
    clock.advance(500);
    assert.equal(breaker.allow(), true);
    breaker.failure();
    assert.equal(breaker.state, 'open');
  });
});

describe('retry budget', () => {
  it('allows retries up to the ratio of recent requests plus the floor, then refuses', () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0.1, windowMs: 10_000 }, clock);
    for (let i = 0; i < 100; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryRetry()) granted++;
    assert.equal(granted, 21, '20 % of 100 plus a floor of 1 per 10 s window');
    clock.advance(20_000);
    budget.recordRequest();
    assert.equal(budget.tryRetry(), true, 'the window slid: budget restored');
  });
});

describe('outlier detector', () => {
  it('ejects an endpoint after consecutive errors, for longer each time, never more than the cap', () => {
    const clock = new ManualClock();
    const all = ['a', 'b'];
    const outliers = new OutlierDetector(
      { consecutiveErrors: 2, baseEjectionMs: 1000, maxEjectedPercent: 50 },
      clock,
    );
    outliers.failure('a', all);
    assert.deepEqual(outliers.available(all), ['a', 'b']);
    assert.equal(outliers.failure('a', all), true);
    assert.deepEqual(outliers.available(all), ['b']);
    outliers.failure('b', all);
    assert.equal(outliers.failure('b', all), false, 'ejecting b too would exceed 50 %');
    clock.advance(1000);
    assert.deepEqual(outliers.available(all), ['a', 'b']);
    outliers.failure('a', all);
    outliers.failure('a', all);
    clock.advance(1500);
    assert.deepEqual(outliers.available(all), ['b'], 'second ejection lasts twice as long');
  });
});
