/**
 * A worker's side of the shared limits (workers/remote-counters.ts): one IPC message per tick, answers
 * matched to their callers in order, and a component that does not answer fails the callers so that each
 * rule's fail-open / fail-closed applies.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemClock } from '../../src/core/index.ts';
import { type CounterOp, LocalCounters } from '../../src/gateway/limits/counters.ts';
import { createLimiterFactory, StoreUnavailable } from '../../src/gateway/limits/limiter-factory.ts';
import { RemoteCounters } from '../../src/gateway/workers/remote-counters.ts';

const rule = {
  id: 'r',
  algorithm: 'fixed-window' as const,
  params: { points: 2, durationMs: 60_000, capacity: 2 },
};

describe('remote counters', () => {
  test('operations of one tick go as one batch and each caller gets its own answer', async () => {
    const local = new LocalCounters(systemClock);
    const sent: CounterOp[][] = [];
    const remote: RemoteCounters = new RemoteCounters((id, ops) => {
      sent.push(ops);
      setImmediate(() => remote.answer(id, local.answer(1, ops)));
    });
    const decisions = await Promise.all([1, 2, 3].map(() => remote.consume(rule, 'k')));
    assert.deepEqual(
      decisions.map((d) => d.allowed),
      [true, true, false],
    );
    assert.equal(sent.length, 1);
    assert.deepEqual(await Promise.all([remote.acquire('a', 1), remote.acquire('a', 1)]), [true, false]);
    remote.release('a');
    assert.equal(await remote.acquire('a', 1), true);
    assert.equal(local.inFlight('a'), 1);
  });

  test('no answer in time fails the callers, and the limiter reports its store unavailable', async () => {
    const silent = new RemoteCounters(() => undefined, 50);
    await assert.rejects(silent.acquire('a', 1), /did not answer/);
    const limiter = createLimiterFactory(
      undefined,
      'p',
      silent,
      systemClock,
    )('route', 0, {
      by: 'ip',
      points: 1,
      durationSeconds: 1,
    });
    await assert.rejects(limiter.consume('k'), StoreUnavailable);
  });

  test('a late answer after the timeout is ignored', async () => {
    let lastId = 0;
    const remote = new RemoteCounters((id) => {
      lastId = id;
    }, 20);
    await assert.rejects(remote.consume(rule, 'k'));
    assert.doesNotThrow(() =>
      remote.answer(lastId, [{ allowed: true, remaining: 1, resetMs: 1, retryAfterMs: 0 }]),
    );
  });
});
