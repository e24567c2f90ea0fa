import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../core/index.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { RetryBudget } from './retry-budget.ts';

describe('CircuitBreaker', () => {
  test('opens after the threshold of consecutive failures and lets one trial through after openMs', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker(clock, 3, 1000);
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.state, 'closed');
    breaker.failure();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.tryAcquire(), false);
    clock.advance(1000);
    assert.equal(breaker.tryAcquire(), true);
    // Only one trial at a time while half-open.
    assert.equal(breaker.tryAcquire(), false);
    breaker.failure();
    assert.equal(breaker.state, 'open');
    clock.advance(1000);
    assert.equal(breaker.tryAcquire(), true);
    breaker.success();
    assert.equal(breaker.state, 'closed');
  });
});

describe('RetryBudget', () => {
  test('allows the floor, then one retry per 1/percent requests', () => {
    const budget = new RetryBudget(20, 2);
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), true);
    assert.equal(budget.withdraw(), false);
    for (let i = 0; i < 4; i++) budget.deposit();
    assert.equal(budget.withdraw(), false);
    budget.deposit();
    assert.equal(budget.withdraw(), true);
  });
});
