/**
 * A worker's side of the shared limits (workers/remote-counters.ts): one IPC message per tick, answers
 * matched to their callers in order, and a component that does not answer fails the callers so that each
 * rule's fail-open / fail-closed applies.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { systemClock } from '../../src/core/index.ts';
import type { LimitDecision } from '../../src/gateway/limits/algorithms.ts';
import { type CounterOp, type LimitCounters, LocalCounters } from '../../src/gateway/limits/counters.ts';
import { createLimiterFactory, StoreUnavailable } from '../../src/gateway/limits/limiter-factory.ts';
import { RemoteCounters } from '../../src/gateway/workers/remote-counters.ts';
import { simpleRoutes, startGateway } from './fixtures/harness.ts';
import { startUpstream } from './fixtures/upstream.ts';

/** A sliding window: asked one point per request (fixed windows are leased, see below). */
const rule = {
  id: 'r',
  algorithm: 'sliding-window' as const,
  params: { points: 2, durationMs: 60_000, capacity: 2 },
};

/** A worker's counters answered at once by `local` (as holder `holder`), keeping the batches sent. */
function worker(local: LocalCounters, holder: number) {
  const sent: CounterOp[][] = [];
  const remote: RemoteCounters = new RemoteCounters((id, ops) => {
    sent.push(ops);
    setImmediate(() => remote.answer(id, local.answer(holder, ops)));
  });
  return {
    remote,
    sent,
    stats: {
      get batches() {
        return sent.length;
      },
    },
  };
}

describe('remote counters', () => {
  test('operations of one tick go as one batch and each caller gets its own answer', async () => {
    const local = new LocalCounters(systemClock);
    const { remote, sent } = worker(local, 1);
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

  test('a late answer after the timeout resolves nobody, and gives back the slots it granted', async () => {
    const local = new LocalCounters(systemClock);
    let batch: { id: number; ops: CounterOp[] } | undefined;
    const remote = new RemoteCounters((id, ops) => {
      batch = { id, ops };
    }, 20);
    await assert.rejects(remote.acquire('a', 1));
    // The component did count the slot; its answer comes after the caller was refused.
    remote.answer(batch!.id, local.answer(1, batch!.ops));
    await new Promise((r) => setImmediate(r));
    const release = batch!;
    assert.deepEqual(release.ops, [{ op: 'release', route: 'a' }]);
    local.answer(1, release.ops);
    assert.equal(local.inFlight('a'), 0);
  });
});

describe('leased fixed windows', () => {
  const fixed = (points: number) => ({
    id: `fixed-${points}`,
    algorithm: 'fixed-window' as const,
    params: { points, durationMs: 60_000, capacity: points },
  });

  test('two workers never let more than the limit through, and together spend all of it', async () => {
    const local = new LocalCounters(systemClock);
    const a = worker(local, 1);
    const b = worker(local, 2);
    const rule = fixed(100);
    let allowed = 0;
    let lastRemaining = Number.POSITIVE_INFINITY;
    let batchesForTheFirst100 = 0;
    for (let i = 0; i < 300; i++) {
      if (i === 100) batchesForTheFirst100 = a.stats.batches + b.stats.batches;
      const d = await (i % 3 === 0 ? b : a).remote.consume(rule, 'k');
      if (d.allowed) {
        allowed++;
      }
      if (i % 3 !== 0) lastRemaining = d.remaining;
    }
    assert.equal(allowed, 100);
    assert.equal(lastRemaining, 0);
    // Fewer round trips than requests while points are left (each refusal asks: it must be exact).
    assert.ok(batchesForTheFirst100 < 60, `${batchesForTheFirst100} batches`);
  });

  test('a busy key costs one round trip per lease, not per request', async () => {
    const local = new LocalCounters(systemClock);
    const a = worker(local, 1);
    for (let i = 0; i < 5_000; i++) assert.equal((await a.remote.consume(fixed(1e9), 'hot')).allowed, true);
    assert.ok(a.stats.batches <= 16, `${a.stats.batches} batches`);
  });

  test('points left of a lease lapse with their window', async () => {
    const local = new LocalCounters(systemClock);
    const a = worker(local, 1);
    const short = { ...fixed(1000), id: 'short', params: { points: 1000, durationMs: 300, capacity: 1000 } };
    for (let i = 0; i < 20; i++) await a.remote.consume(short, 'k');
    const before = a.stats.batches;
    await a.remote.consume(short, 'k');
    assert.equal(a.stats.batches, before, 'served from the lease');
    await new Promise((r) => setTimeout(r, 350));
    const fresh = await a.remote.consume(short, 'k');
    assert.equal(a.stats.batches, before + 1, 'a new window is asked for');
    // The new window's count starts again (a lease of one point, then more).
    assert.ok(fresh.remaining >= 990, `${fresh.remaining}`);
  });

  test('requests of one tick wait for one lease instead of each taking a share', async () => {
    const local = new LocalCounters(systemClock);
    const { remote, sent } = worker(local, 1);
    const rule = fixed(10_000);
    const all = await Promise.all(Array.from({ length: 64 }, () => remote.consume(rule, 'k')));
    assert.ok(all.every((d) => d.allowed));
    assert.equal(sent[0]?.length, 1, 'one lease asked for in the first tick');
    // What the worker took is what it spent plus at most its last lease: others can still get the rest.
    const other = await local.answer(2, [{ op: 'lease', rule, key: 'k', want: 1 }])[0];
    assert.ok((other as { decision: LimitDecision }).decision.remaining > 9_800);
  });

  test('a refusal is answered locally until the window ends', async () => {
    const local = new LocalCounters(systemClock);
    const a = worker(local, 1);
    const rule = { ...fixed(2), id: 'two', params: { points: 2, durationMs: 300, capacity: 2 } };
    const codes: boolean[] = [];
    for (let i = 0; i < 3; i++) codes.push((await a.remote.consume(rule, 'k')).allowed);
    const asked = a.stats.batches;
    for (let i = 0; i < 5; i++) {
      const d = await a.remote.consume(rule, 'k');
      codes.push(d.allowed);
      assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 300);
    }
    assert.deepEqual(codes, [true, true, false, false, false, false, false, false]);
    assert.equal(a.stats.batches, asked, 'no round trip for a known refusal');
    await new Promise((r) => setTimeout(r, 320));
    assert.equal((await a.remote.consume(rule, 'k')).allowed, true, 'the next window is asked for');
  });

  test('a clock stepped back while a lease is asked for does not stretch it past the window', async () => {
    let t = 10_000;
    const clock = { now: () => t };
    const local = new LocalCounters(clock);
    let batches = 0;
    let stepBack = false;
    const remote: RemoteCounters = new RemoteCounters(
      (id, ops) => {
        batches++;
        if (stepBack) t -= 500; // between the ask and the component's answer
        setImmediate(() => remote.answer(id, local.answer(1, ops)));
      },
      1_000,
      clock,
    );
    const rule = { ...fixed(1000), id: 'step', params: { points: 1000, durationMs: 1000, capacity: 1000 } };
    // The component's window is [10 000, 11 000). Leases of 1, then 2 points; the second leaves one.
    await remote.consume(rule, 'k');
    await remote.consume(rule, 'k');
    await remote.consume(rule, 'k');
    stepBack = true;
    await remote.consume(rule, 'k'); // asked at 10 000, answered at 9 500: 1 500 ms "left"
    stepBack = false;
    t = 11_100; // the component's window has ended: the lease must have too
    const asked = batches;
    await remote.consume(rule, 'k');
    assert.equal(batches, asked + 1, 'a lease held past the window would have been spent unseen');
  });

  test('other algorithms are asked one point per request', async () => {
    const local = new LocalCounters(systemClock);
    const a = worker(local, 1);
    for (let i = 0; i < 10; i++)
      await a.remote.consume({ ...rule, id: 'sw', algorithm: 'sliding-window' }, 'k');
    assert.equal(a.stats.batches, 10);
  });
});

describe('local counters', () => {
  test('keep at most `rateLimitMaxKeys` keys per rule: an idle key beyond them starts afresh', () => {
    const oneShot = { ...rule, id: 'one', params: { points: 1, durationMs: 60_000, capacity: 1 } };
    for (const [maxKeys, again] of [
      [1_000, true],
      [undefined, false],
    ] as const) {
      const counters = new LocalCounters(systemClock, maxKeys);
      assert.equal(counters.consume(oneShot, 'idle').allowed, true);
      for (let i = 0; i < 2_000; i++) counters.consume(oneShot, `k${i}`);
      assert.equal(counters.consume(oneShot, 'idle').allowed, again, `maxKeys ${maxKeys}`);
    }
  });

  test('the counters of a rule no longer used are dropped once its keys expire', () => {
    let now = 0;
    const counters = new LocalCounters({ now: () => now });
    const old = { ...rule, id: 'old', params: { points: 5, durationMs: 1_000, capacity: 5 } };
    const live = { ...rule, id: 'live', params: { points: 1e9, durationMs: 60_000, capacity: 1e9 } };
    counters.consume(old, 'k');
    counters.consume(live, 'k');
    assert.equal(counters.stores, 2);
    now = 2_000;
    for (let i = 0; i < 200_000; i++) counters.consume(live, `k${i % 10}`);
    assert.equal(counters.stores, 1);
    // The live rule's counts are untouched.
    assert.equal(counters.consume(live, 'k0').remaining, 1e9 - 20_001);
  });
});

describe('a concurrency slot granted late', () => {
  test('is given back when the client left before the answer came', async () => {
    const local = new LocalCounters(systemClock);
    // The component's answer arrives 300 ms later, long after the client gave up.
    const late: LimitCounters = {
      consume: (rule, key) => local.consume(rule, key),
      acquire: (route, max) =>
        new Promise((resolve) => setTimeout(() => resolve(local.acquire(route, max)), 300)),
      release: (route) => local.release(route),
    };
    const upstream = await startUpstream();
    const gw = await startGateway(
      simpleRoutes(upstream.url, [
        { name: 'slow', service: 'svc', paths: ['/slow'], auth: { required: false }, concurrency: 1 },
      ]),
      { counters: late },
    );
    try {
      const aborted = new AbortController();
      const gone = request(`${gw.url}/slow`, { signal: aborted.signal }).catch(() => undefined);
      setTimeout(() => aborted.abort(), 50);
      await gone;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(local.inFlight('slow'), 0);
      const next = await request(`${gw.url}/slow`);
      await next.body.dump();
      assert.equal(next.statusCode, 200);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
