import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { compileBundle, PolicyEngine } from '../../src/core/policy-engine/index.ts';
import { CONTEXT, ENTITIES, route, user } from './fixtures.ts';

describe('bundle switch under concurrent decisions', () => {
  it('answers every request wholly under one bundle or the other, never a mix', async () => {
    const entities = { file: 'entities.json', entities: ENTITIES };
    const open = compileBundle({
      policies: [{ file: 'a.cedar', text: '@id("a-open")\npermit(principal, action, resource);' }],
      entities,
    });
    const closed = compileBundle({
      policies: [
        {
          file: 'b.cedar',
          text: '@id("b-open")\npermit(principal, action, resource);\n@id("b-closed")\nforbid(principal, action == Bulwark::Action::"write", resource);',
        },
      ],
      entities,
    });
    const engine = new PolicyEngine({ cacheSize: 100 });
    engine.apply(open);
    const expected = new Map([
      [open.hash, { read: ['allow', 'a-open'], write: ['allow', 'a-open'] }],
      [closed.hash, { read: ['allow', 'b-open'], write: ['deny', 'b-closed'] }],
    ]);
    const seen = new Set<string>();
    let answered = 0;
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 250; i++) {
        const action = (i + w) % 2 === 0 ? 'read' : 'write';
        const d = engine.decide({
          principal: user('alice'),
          action,
          resource: route('acme.orders.list'),
          context: CONTEXT,
        });
        const want = expected.get(d.bundle ?? '')?.[action];
        assert.ok(want, `decision from an unknown bundle ${d.bundle}`);
        assert.deepEqual([d.decision, ...d.policies], want);
        seen.add(d.bundle as string);
        answered++;
        await tick();
      }
    });
    const swapper = (async () => {
      for (let i = 0; i < 60; i++) {
        engine.apply(i % 2 === 0 ? closed : open);
        await tick();
      }
    })();
    await Promise.all([...workers, swapper]);
    assert.equal(answered, 8 * 250, 'no decision lost');
    assert.equal(seen.size, 2, 'both bundles decided');
  });
});
