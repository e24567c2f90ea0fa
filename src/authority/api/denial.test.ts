import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryAuditSink } from '../../core/index.ts';
import { DenialBudget } from './denial.ts';

describe('denial budget', () => {
  it('audits the first refusals of an address each minute and sums up the rest in one record', () => {
    let now = Date.parse('2026-11-26T02:00:00Z');
    const audit = new MemoryAuditSink();
    const budget = new DenialBudget(audit, { now: () => now }, 3);
    const admitted = Array.from({ length: 10 }, () => budget.admit('unknown', '192.0.2.7'));
    assert.deepEqual(admitted, [true, true, true, false, false, false, false, false, false, false]);
    // Another address has its own budget.
    assert.equal(budget.admit('unknown', '192.0.2.8'), true);
    assert.equal(audit.events.length, 0);
    now += 60_000;
    budget.tick();
    assert.deepEqual(
      audit.events.map((e) => [e.action, e.source?.ip, e.details]),
      [['authority.denials.suppressed', '192.0.2.7', { refused: 10, audited: 3 }]],
    );
    // A new minute, a new budget.
    assert.equal(budget.admit('unknown', '192.0.2.7'), true);
  });

  it('keeps a known caller out of the junk from its address, and sums up what it cannot track', () => {
    const audit = new MemoryAuditSink();
    const budget = new DenialBudget(audit, { now: () => 0 }, 2);
    for (let i = 0; i < 5; i++) budget.admit('unknown', '127.0.0.1');
    // A revoked workload renewing from the same loopback address is still audited.
    assert.equal(budget.admit('spiffe://bulwark.local/service/orders', '127.0.0.1'), true);
    for (let i = 0; i < 10_000; i++) budget.admit('unknown', `2001:db8::${i.toString(16)}`);
    assert.equal(budget.admit('unknown', '2001:db8::ffff:1'), false);
    budget.flush();
    assert.deepEqual(
      audit.events.map((e) => e.details),
      [
        { refused: 5, audited: 2 },
        { refused: 3, audited: 0 },
      ],
    );
  });

  it('writes the summary of an unfinished minute at shutdown', () => {
    const audit = new MemoryAuditSink();
    const budget = new DenialBudget(audit, { now: () => 0 }, 1);
    budget.admit('unknown', '198.51.100.1');
    budget.admit('unknown', '198.51.100.1');
    budget.flush();
    assert.equal(audit.events.length, 1);
    assert.equal(audit.events[0]?.details?.['refused'], 2);
  });
});
