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
import {
  type CounterOp,
  type LimitCounters,
  type LimitRule,
  LocalCounters,
} from '../../src/gateway/limits/counters.ts';
import { createLimiterFactory, StoreUnavailable } from '../../src/gateway/limits/limiter-factory.ts';
import { RemoteCounters } from '../../src/gateway/workers/remote-counters.ts';
import { simpleRoutes, startGateway } from './fixtures/harness.ts';
import { startUpstream } from './fixtures/upstream.ts';

/** A sliding window of two points a minute. */
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

describe('leases', () => {
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

  test('requests while a lease is asked for are decided one by one in the same message, not each a share', async () => {
    const local = new LocalCounters(systemClock);
    const { remote, sent } = worker(local, 1);
    const rule = fixed(10_000);
    const all = await Promise.all(Array.from({ length: 64 }, () => remote.consume(rule, 'k')));
    assert.ok(all.every((d) => d.allowed));
    assert.equal(sent.length, 1, 'one round trip');
    assert.deepEqual(
      sent[0]!.map((op) => op.op),
      ['lease', ...Array(63).fill('consume')],
    );
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

  /**
   * Two workers and the component on a clock the test moves: bursts of concurrent requests at random
   * moments, each allowed one recorded at its time. `conforms` then checks the allowed times against the
   * algorithm itself, as if one process had seen every request.
   */
  function twoWorkers() {
    const clock = { t: 1_000_000, now: () => clock.t };
    const local = new LocalCounters(clock);
    let batches = 0;
    const make = (holder: number): RemoteCounters => {
      const remote: RemoteCounters = new RemoteCounters(
        (id, ops) => {
          batches++;
          setImmediate(() => remote.answer(id, local.answer(holder, ops)));
        },
        1_000,
        clock,
      );
      return remote;
    };
    const workers = [make(1), make(2)] as const;
    const allowed: number[] = [];
    let requests = 0;
    return {
      clock,
      allowed,
      get requests() {
        return requests;
      },
      get batches() {
        return batches;
      },
      /** `n` requests at once through worker `w` (0 or 1), now. */
      async burst(rule: LimitRule, w: 0 | 1, n: number): Promise<void> {
        requests += n;
        const decisions = await Promise.all(Array.from({ length: n }, () => workers[w].consume(rule, 'k')));
        for (const d of decisions) if (d.allowed) allowed.push(clock.t);
      },
      /** `n` requests one after the other through worker `w`, so its leases grow. */
      async serial(rule: LimitRule, w: 0 | 1, n: number): Promise<void> {
        for (let i = 0; i < n; i++) await this.burst(rule, w, 1);
      },
    };
  }

  /** Bursts at random moments through either worker. */
  async function randomTraffic(rule: LimitRule, steps: number, seed: number) {
    const run = twoWorkers();
    let x = seed;
    const random = () => {
      x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
      return x / 2_147_483_648;
    };
    for (let i = 0; i < steps; i++) {
      run.clock.t += Math.floor(random() * 40);
      await run.burst(rule, random() < 0.5 ? 0 : 1, 1 + Math.floor(random() * 6));
    }
    return run;
  }

  /** Checks allowed times against one sliding window that saw them all. */
  function slidingConforms(allowed: readonly number[], points: number, d: number): void {
    for (const at of allowed) {
      const w = Math.floor(at / d);
      const f = (at - w * d) / d;
      const curr = allowed.filter((a) => a <= at && Math.floor(a / d) === w).length;
      const prev = allowed.filter((a) => Math.floor(a / d) === w - 1).length;
      assert.ok(prev * (1 - f) + curr <= points + 1e-9, `${prev} x ${1 - f} + ${curr} at ${at}`);
    }
  }

  /** Checks allowed times against one token bucket (full at the start) that saw them all. */
  function bucketConforms(allowed: readonly number[], capacity: number, perMs: number): void {
    let tokens = capacity;
    let last = allowed[0] ?? 0;
    for (const at of allowed) {
      tokens = Math.min(capacity, tokens + (at - last) * perMs);
      last = at;
      assert.ok(tokens >= 1 - 1e-9, `no token left at ${at}`);
      tokens -= 1;
    }
  }

  test('sliding windows are leased and never let more through than one process would', async () => {
    const rule: LimitRule = {
      id: 'sw',
      algorithm: 'sliding-window',
      params: { points: 40, durationMs: 1_000, capacity: 40 },
    };
    for (const seed of [1, 2, 3]) {
      const run = await randomTraffic(rule, 600, seed);
      slidingConforms(run.allowed, 40, 1_000);
      assert.ok(run.allowed.length > 200, `seed ${seed}: only ${run.allowed.length} allowed`);
      assert.ok(
        run.batches < run.requests / 2,
        `seed ${seed}: ${run.batches} round trips for ${run.requests}`,
      );
    }
  });

  test('points leased in one sliding window are not spent in the next', async () => {
    const rule: LimitRule = {
      id: 'sw-edge',
      algorithm: 'sliding-window',
      params: { points: 1000, durationMs: 1_000, capacity: 1000 },
    };
    const run = twoWorkers();
    run.clock.t = 1_000_000; // the start of a window
    await run.serial(rule, 0, 40); // worker 0 ends with points of its last lease unspent
    run.clock.t = 1_001_990; // the next window, the previous one weighing 1%
    await run.burst(rule, 1, 1_200); // worker 1 takes all the window allows
    await run.burst(rule, 0, 100); // worker 0 must not add its old points on top
    slidingConforms(run.allowed, 1000, 1_000);
  });

  test('token buckets are leased and every allowed request finds a token in one shared bucket', async () => {
    // 20 tokens a second, bursts up to 60: the bursts drain it, so leases are held below the cap.
    const rule: LimitRule = {
      id: 'tb',
      algorithm: 'token-bucket',
      params: { points: 20, durationMs: 1_000, capacity: 60 },
    };
    for (const seed of [1, 2, 3]) {
      const run = await randomTraffic(rule, 600, seed);
      bucketConforms(run.allowed, 60, 0.02);
      // The bucket's own rate over the run (~12 s): about 60 + 20 x 12 = 300.
      assert.ok(run.allowed.length > 200, `seed ${seed}: only ${run.allowed.length} allowed`);
      assert.ok(run.batches < run.requests, `seed ${seed}: ${run.batches} round trips for ${run.requests}`);
    }
  });

  test('tokens leased from a bucket lapse before it could have refilled them', async () => {
    const rule: LimitRule = {
      id: 'tb-idle',
      algorithm: 'token-bucket',
      params: { points: 64, durationMs: 1_000, capacity: 256 },
    };
    const run = twoWorkers();
    await run.serial(rule, 0, 40); // worker 0 ends holding tokens of its last lease
    run.clock.t += 10_000; // the bucket is full again
    await run.burst(rule, 1, 300); // worker 1 empties it
    await run.burst(rule, 0, 50); // worker 0's old tokens must not come on top
    bucketConforms(run.allowed, 256, 0.064);
  });

  test('a full token bucket grants one token at a time: a lease could not be held', () => {
    const local = new LocalCounters(systemClock);
    const rule: LimitRule = {
      id: 'tb-full',
      algorithm: 'token-bucket',
      params: { points: 1e6, durationMs: 1_000, capacity: 100 },
    };
    const answer = local.lease(rule, 'k', 64);
    assert.equal(answer.granted, 1);
    assert.equal(answer.holdsMs, 0);
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
