import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryAuditSink } from '../../core/index.ts';
import { DecisionLog, PolicyEngine } from '../../core/policy-engine/index.ts';
import { ServicePolicy } from './service-policy.ts';

const id = (s: string) => `spiffe://bulwark.local/service/${s}`;
const permit = (from: string, to: string) =>
  `permit (principal == Bulwark::Service::"${id(from)}", action == Bulwark::Action::"call", resource == Bulwark::Service::"${id(to)}");`;
const call = (caller: string, path = '/x') => ({
  caller: id(caller),
  callee: id('orders'),
  method: 'GET',
  path,
  sourceIp: '::ffff:127.0.0.1',
  at: Date.UTC(2026, 0, 1, 12),
});

describe('service-to-service policy', () => {
  it('allows only what a policy permits, and denies with no bundle loaded', () => {
    const engine = new PolicyEngine();
    const policy = new ServicePolicy(engine);
    assert.equal(policy.authorize(call('frontend')).decision, 'deny');
    engine.load({ policies: [{ file: 'p.cedar', text: permit('frontend', 'orders') }] });
    assert.equal(policy.authorize(call('frontend')).decision, 'allow');
    assert.equal(policy.authorize(call('frontend')).decision, 'allow', 'remembered answer');
    assert.equal(policy.authorize(call('intruder')).decision, 'deny');
  });

  it('warms the engine without logging, caching or remembering a decision', () => {
    const sink = new MemoryAuditSink();
    const engine = new PolicyEngine({
      decisionLog: new DecisionLog({ sink, allowSampleRate: 1, component: 'sidecar' }),
    });
    engine.load({ policies: [{ file: 'p.cedar', text: permit('orders', 'orders') }] });
    const policy = new ServicePolicy(engine);
    policy.warm(id('orders'));
    assert.equal(sink.events.length, 0, 'a rehearsal is not a decision anyone made');
    assert.equal(engine.cacheStats.size, 0);
    // The next real call is decided (and logged) as if nothing had happened before it.
    const d = policy.authorize({ ...call('orders'), path: '/' });
    assert.equal(d.decision, 'allow');
    assert.equal(d.cached, false);
    assert.equal(sink.events.length, 1);
  });

  it('forgets remembered answers when a new bundle is applied', () => {
    const engine = new PolicyEngine();
    const policy = new ServicePolicy(engine);
    engine.load({ policies: [{ file: 'p.cedar', text: permit('frontend', 'orders') }] });
    assert.equal(policy.authorize(call('frontend')).decision, 'allow');
    engine.load({ policies: [{ file: 'p.cedar', text: permit('reports', 'orders') }] });
    assert.equal(policy.authorize(call('frontend')).decision, 'deny');
    assert.equal(policy.authorize(call('reports')).decision, 'allow');
  });

  it('keeps roles from the bundle entities of a known service', () => {
    const engine = new PolicyEngine();
    engine.load({
      policies: [
        {
          file: 'r.cedar',
          text: `permit (principal in Bulwark::Role::"readers", action == Bulwark::Action::"call", resource == Bulwark::Service::"${id('orders')}");`,
        },
      ],
      entities: {
        file: 'e.json',
        entities: [
          { uid: { type: 'Bulwark::Role', id: 'readers' }, attrs: {}, parents: [] },
          {
            uid: { type: 'Bulwark::Service', id: id('reports') },
            attrs: { trustDomain: 'bulwark.local' },
            parents: [{ type: 'Bulwark::Role', id: 'readers' }],
          },
        ],
      },
    });
    const policy = new ServicePolicy(engine);
    assert.equal(policy.authorize(call('reports')).decision, 'allow');
    assert.equal(policy.authorize(call('frontend')).decision, 'deny');
  });
});
