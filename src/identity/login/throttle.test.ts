import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../core/index.ts';
import { SqliteStore } from '../../core/storage/index.ts';
import { IDENTITY_MIGRATIONS } from '../migrations.ts';
import { DEFAULT_RULES, Throttle } from './throttle.ts';

async function setup() {
  const store = new SqliteStore({ directory: ':memory:', namespace: 'identity' });
  await store.migrate(IDENTITY_MIGRATIONS);
  const clock = new ManualClock();
  return { store, clock, throttle: new Throttle(store, clock) };
}

describe('login throttle', () => {
  it('lets the free failures through, then doubles the delay, then blocks at the cap', async () => {
    const { store, clock, throttle } = await setup();
    const rule = DEFAULT_RULES.acct;
    const delays: number[] = [];
    for (let i = 1; i <= rule.cap; i++) {
      const outcome = await throttle.fail('acct:u1');
      const verdict = await throttle.check(['acct:u1']);
      delays.push(verdict.retryAfterMs);
      assert.equal(outcome.locked, i === rule.cap);
      clock.advance(verdict.retryAfterMs);
    }
    assert.deepEqual(delays.slice(0, rule.free), Array(rule.free).fill(0));
    assert.deepEqual(delays.slice(rule.free, rule.free + 3), [1000, 2000, 4000]);
    assert.equal(delays.at(-1), rule.lockMs);
    assert.ok(rule.cap < 100, 'the cap is far below NIST SP 800-63B’s 100');
    await store.close();
  });

  it('keeps counters apart per key, forgets a success, and restarts counting after a quiet period', async () => {
    const { store, clock, throttle } = await setup();
    for (let i = 0; i < 8; i++) await throttle.fail('acct:u1');
    assert.equal(
      (await throttle.check(['dev:d1'])).allowed,
      true,
      'a device key is separate from the account key',
    );
    assert.equal((await throttle.check(['dev:d1', 'acct:u1'])).allowed, false);
    await throttle.succeed('acct:u1');
    assert.equal((await throttle.check(['acct:u1'])).allowed, true);
    for (let i = 0; i < 5; i++) await throttle.fail('ip:1.2.3.4');
    clock.advance(DEFAULT_RULES.ip.lockMs + 1);
    assert.equal((await throttle.fail('ip:1.2.3.4')).failures, 1);
    await store.close();
  });
});
