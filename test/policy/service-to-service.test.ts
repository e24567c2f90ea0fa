/** The mesh case from the attacker's side: a service calling one it is not allowed to call. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import { DecisionLog, PolicyEngine, requestContext } from '../../src/core/policy-engine/index.ts';
import { readBundleDirectory } from '../../src/policy/index.ts';

const dir = new URL('../../src/policy/templates/service-allow-list/', import.meta.url).pathname;
const svc = (path: string) => ({ type: 'Bulwark::Service', id: `spiffe://bulwark.test/ns/shop/sa/${path}` });
const context = requestContext({
  method: 'POST',
  path: '/charge',
  sourceIp: '10.0.0.9',
  at: Date.UTC(2026, 0, 5, 10),
});

describe('service-to-service calls', () => {
  it('denies a service calling one that is not on its allow list, and logs the deny', () => {
    const sink = new MemoryAuditSink();
    const engine = new PolicyEngine({
      decisionLog: new DecisionLog({ sink, allowSampleRate: 0, component: 'sidecar' }),
    });
    engine.load(readBundleDirectory(dir));
    const allowed = engine.decide({
      principal: svc('orders'),
      action: 'call',
      resource: { type: 'Bulwark::Route', id: 'payments.charge' },
      context,
    });
    assert.equal(allowed.decision, 'allow');
    const denied = engine.decide({
      principal: svc('frontend'),
      action: 'call',
      resource: svc('payments'),
      context,
    });
    assert.equal(denied.decision, 'deny');
    assert.deepEqual(denied.policies, []);
    assert.equal(sink.events.length, 1);
    assert.deepEqual(sink.events[0]?.actor, { type: 'service', id: svc('frontend').id });
    assert.equal(sink.events[0]?.target?.id, svc('payments').id);
  });

  it('does not let a service reach the allowed one by a look-alike SPIFFE ID', () => {
    const engine = new PolicyEngine();
    engine.load(readBundleDirectory(dir));
    for (const id of [
      'spiffe://bulwark.test/ns/shop/sa/frontend/',
      'spiffe://bulwark.test/ns/shop/sa/frontendx',
      'spiffe://BULWARK.test/ns/shop/sa/frontend',
      'spiffe://evil.test/ns/shop/sa/frontend',
    ]) {
      const d = engine.decide({
        principal: { type: 'Bulwark::Service', id },
        action: 'call',
        resource: svc('orders'),
        context,
        entities: [
          { uid: { type: 'Bulwark::Service', id }, attrs: { trustDomain: 'bulwark.test' }, parents: [] },
        ],
      });
      assert.equal(d.decision, 'deny', id);
    }
  });
});
