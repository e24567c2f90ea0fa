import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../clock.ts';
import { uuidV7Generator } from './uuid-v7.ts';

describe('UUIDv7 (RFC 9562)', () => {
  it('carries version 7, variant 10 and the millisecond time, and sorts in creation order', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const next = uuidV7Generator(clock);
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) {
      ids.push(next());
      if (i % 1000 === 0) clock.advance(1);
    }
    const first = ids[0]!;
    assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(Number.parseInt(first.replace(/-/g, '').slice(0, 12), 16), Date.UTC(2026, 0, 1));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });
});
