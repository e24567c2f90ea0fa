import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import {
  type BundleIssue,
  DecisionLog,
  fromBundleDocument,
  PolicyEngine,
  toBundleDocument,
} from '../../src/core/policy-engine/index.ts';
import { CONTEXT, NO_DELETE, rbacBundle, route, user } from './fixtures.ts';

const issuesOf = (fn: () => unknown): BundleIssue[] => {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: string; details?: { issues?: BundleIssue[] } };
    assert.equal(e.code, 'policy_bundle_invalid');
    return e.details?.issues ?? [];
  }
  assert.fail('the bundle was accepted');
};

describe('the embedded policy engine', () => {
  it('denies everything before a bundle is loaded', () => {
    const engine = new PolicyEngine();
    const d = engine.decide({
      principal: user('alice'),
      action: 'read',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'deny');
    assert.equal(d.bundle, null);
    assert.match(d.errors[0]?.message ?? '', /no policy bundle/);
  });

  it('allows through a role hierarchy and names the policy that decided', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const d = engine.decide({
      principal: user('alice'),
      action: 'read',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'allow');
    assert.deepEqual(d.policies, ['viewers-read']);
  });

  it('denies by default when no policy permits', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const d = engine.decide({
      principal: user('bob'),
      action: 'write',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.policies, []);
  });

  it('denies a tenant reading another tenant resource', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const d = engine.decide({
      principal: user('mallory'),
      action: 'read',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'deny');
  });

  it('lets a forbid override a permit and names the forbid', () => {
    const engine = new PolicyEngine();
    engine.load(
      rbacBundle([{ file: 'guard.cedar', text: `${NO_DELETE}\npermit(principal, action, resource);` }]),
    );
    const d = engine.decide({
      principal: user('alice'),
      action: 'delete',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.policies, ['no-delete']);
  });

  it('gives generated ids file#n to policies without @id', () => {
    const engine = new PolicyEngine();
    engine.load({
      policies: [
        {
          file: 'open.cedar',
          text: 'forbid(principal, action, resource) when { false };\npermit(principal, action, resource);',
        },
      ],
    });
    const d = engine.decide({
      principal: user('x'),
      action: 'read',
      resource: route('r'),
      context: CONTEXT,
      entities: [],
    });
    assert.deepEqual(d.policies, ['open.cedar#2']);
  });

  it('reports evaluation errors with the policy id and denies', () => {
    const engine = new PolicyEngine();
    engine.load({
      policies: [
        {
          file: 'hours.cedar',
          text: '@id("overflow")\npermit(principal, action, resource) when { context.hour * 9223372036854775807 > 0 };',
        },
      ],
    });
    // Long overflow is an evaluation error: the policy is skipped, never counted as a permit.
    const d = engine.decide({
      principal: user('alice'),
      action: 'read',
      resource: route('r'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'deny');
    assert.equal(d.errors[0]?.policyId, 'overflow');
  });

  it('denies a request whose context violates the schema instead of evaluating it', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const { hour: _hour, ...partial } = CONTEXT;
    const d = engine.decide({
      principal: user('alice'),
      action: 'read',
      resource: route('acme.orders.list'),
      context: partial,
    });
    assert.equal(d.decision, 'deny');
    assert.match(d.errors[0]?.message ?? '', /hour/);
  });

  it('rejects a bundle with a syntax error, naming file, line and problem, and keeps the old one', () => {
    const engine = new PolicyEngine();
    const good = engine.load(rbacBundle());
    const issues = issuesOf(() =>
      engine.load(
        rbacBundle([
          { file: 'broken.cedar', text: '// first line\n\npermit(principal action, resource);\n' },
        ]),
      ),
    );
    assert.equal(issues[0]?.file, 'broken.cedar');
    assert.equal(issues[0]?.line, 3);
    assert.match(issues[0]?.message ?? '', /unexpected token/);
    assert.equal(engine.bundle?.hash, good.hash);
    const d = engine.decide({
      principal: user('alice'),
      action: 'read',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    });
    assert.equal(d.decision, 'allow');
  });

  it('rejects a bundle that violates the schema, naming file, line and problem, and keeps the old one', () => {
    const engine = new PolicyEngine();
    const good = engine.load(rbacBundle());
    const text =
      '@id("ok")\npermit(principal, action, resource);\n\n@id("typo")\npermit(principal, action, resource)\n  when { principal.tennant == resource.tenant };\n';
    const issues = issuesOf(() => engine.load(rbacBundle([{ file: 'typo.cedar', text }])));
    assert.ok(issues.length >= 1);
    for (const issue of issues) {
      assert.equal(issue.file, 'typo.cedar');
      assert.equal(issue.line, 6);
      assert.equal(issue.policyId, 'typo');
    }
    assert.ok(issues.some((i) => /tennant/.test(i.message) && i.help?.includes('tenant')));
    assert.equal(engine.bundle?.hash, good.hash);
  });

  it('rejects entities that do not fit the schema, and duplicate policy ids', () => {
    const engine = new PolicyEngine();
    const entities = issuesOf(() =>
      engine.load({
        policies: [],
        entities: {
          file: 'entities.json',
          entities: [{ uid: user('x'), attrs: { tenant: 'not-an-entity', age: 3 }, parents: [] }],
        },
      }),
    );
    assert.equal(entities[0]?.file, 'entities.json');
    const dup = issuesOf(() =>
      engine.load({
        policies: [
          { file: 'a.cedar', text: '@id("p")\npermit(principal, action, resource);' },
          { file: 'b.cedar', text: '@id("p")\nforbid(principal, action, resource);' },
        ],
      }),
    );
    assert.match(dup[0]?.message ?? '', /duplicate policy id p/);
    assert.equal(engine.bundle, undefined);
  });

  it('rejects a schema with a syntax error at its line', () => {
    const issues = issuesOf(() =>
      new PolicyEngine().load({
        policies: [],
        schema: { file: 'schema.cedarschema', text: 'namespace X {\n entity A\n action b;\n}' },
      }),
    );
    assert.equal(issues[0]?.file, 'schema.cedarschema');
    assert.equal(issues[0]?.line, 3);
  });

  it('serves repeated requests from the cache and starts a fresh cache with a new bundle', () => {
    const engine = new PolicyEngine({ cacheSize: 2 });
    engine.load(rbacBundle());
    const request = {
      principal: user('alice'),
      action: 'read',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    };
    assert.equal(engine.decide(request).cached, false);
    const again = engine.decide({ ...request, context: { ...CONTEXT } });
    assert.equal(again.cached, true);
    assert.equal(again.decision, 'allow');
    // A different context value is a different key.
    assert.equal(engine.decide({ ...request, context: { ...CONTEXT, hour: 11 } }).cached, false);
    engine.load(
      rbacBundle([{ file: 'guard.cedar', text: '@id("closed")\nforbid(principal, action, resource);' }]),
    );
    const after = engine.decide(request);
    assert.equal(after.cached, false);
    assert.equal(after.decision, 'deny');
    assert.deepEqual(after.policies, ['closed']);
  });

  it('shares cache entries across paths no policy reads, but never for an invalid path', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const request = { principal: user('alice'), action: 'read', resource: route('acme.orders.list') };
    assert.equal(engine.decide({ ...request, context: { ...CONTEXT, path: '/orders/1' } }).cached, false);
    const other = engine.decide({ ...request, context: { ...CONTEXT, path: '/orders/2' } });
    assert.equal(other.cached, true);
    assert.equal(other.decision, 'allow');
    // An attacker sends a path of the wrong type: it must be validated, not served from the cache.
    const wrong = engine.decide({ ...request, context: { ...CONTEXT, path: 12 } });
    assert.equal(wrong.decision, 'deny');
    assert.equal(wrong.cached, false);
    const { path: _path, ...withoutPath } = CONTEXT;
    const missing = engine.decide({ ...request, context: withoutPath });
    assert.equal(missing.decision, 'deny');
    // Once a policy reads the path, the path is part of the key.
    engine.load(
      rbacBundle([
        {
          file: 'p.cedar',
          text: '@id("no-admin")\nforbid(principal, action, resource) when { context.path like "/admin/*" };',
        },
      ]),
    );
    engine.decide({ ...request, context: { ...CONTEXT, path: '/orders/1' } });
    const admin = engine.decide({ ...request, context: { ...CONTEXT, path: '/admin/x' } });
    assert.equal(admin.cached, false);
    assert.deepEqual([admin.decision, ...admin.policies], ['deny', 'no-admin']);
  });

  it('does not serve a cached allow to a request with an extra __proto__ context key', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const request = { principal: user('alice'), action: 'read', resource: route('acme.orders.list') };
    assert.equal(engine.decide({ ...request, context: CONTEXT }).decision, 'allow');
    const polluted = JSON.parse(
      JSON.stringify({ ...CONTEXT, path: '/other' }).replace('{', '{"__proto__":{"x":1},'),
    );
    const d = engine.decide({ ...request, context: polluted });
    assert.equal(d.cached, false);
    assert.equal(d.decision, 'deny');
  });

  it('keeps the cache within its bound', () => {
    const engine = new PolicyEngine({ cacheSize: 3 });
    engine.load(rbacBundle());
    for (let hour = 0; hour < 10; hour++) {
      engine.decide({
        principal: user('alice'),
        action: 'read',
        resource: route('acme.orders.list'),
        context: { ...CONTEXT, hour },
      });
    }
    assert.equal(engine.cacheStats.size, 3);
  });

  it('lets request entities override known ones (roles from a token)', () => {
    const engine = new PolicyEngine();
    engine.load(rbacBundle());
    const bobAsEditor = {
      uid: user('bob'),
      attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 'acme' } } },
      parents: [{ type: 'Bulwark::Role', id: 'editor' }],
    };
    const request = {
      principal: user('bob'),
      action: 'write',
      resource: route('acme.orders.list'),
      context: CONTEXT,
    };
    assert.equal(engine.decide(request).decision, 'deny');
    assert.equal(engine.decide({ ...request, entities: [bobAsEditor] }).decision, 'allow');
  });

  it('records every deny and samples allows in the decision log, with policy ids', () => {
    const sink = new MemoryAuditSink();
    let next = 0.5;
    const log = new DecisionLog({ sink, allowSampleRate: 0.25, component: 'test', random: () => next });
    const engine = new PolicyEngine({ decisionLog: log });
    engine.load(rbacBundle([{ file: 'guard.cedar', text: NO_DELETE }]));
    const base = { principal: user('alice'), resource: route('acme.orders.list'), context: CONTEXT };
    engine.decide({ ...base, action: 'read' }); // allow, not sampled (0.5 >= 0.25)
    next = 0.1;
    engine.decide({ ...base, action: 'read' }, 'req-1'); // allow, sampled
    engine.decide({ ...base, action: 'delete' }); // deny, always
    assert.equal(sink.events.length, 2);
    assert.equal(sink.events[0]?.outcome, 'success');
    assert.equal(sink.events[0]?.requestId, 'req-1');
    assert.deepEqual(sink.events[0]?.details?.['policies'], ['viewers-read']);
    assert.equal(sink.events[1]?.outcome, 'failure');
    assert.equal(sink.events[1]?.action, 'policy.decision');
    assert.deepEqual(sink.events[1]?.actor, { type: 'user', id: 'alice' });
    assert.deepEqual(sink.events[1]?.details?.['policies'], ['no-delete']);
    assert.equal(
      JSON.stringify(sink.events).includes('10.0.0.7'),
      false,
      'context values stay out of the log',
    );
  });

  it('refuses a bundle document whose content does not match its hash', () => {
    const bundle = new PolicyEngine().load(rbacBundle());
    const doc = toBundleDocument(bundle, 1, '2026-01-01T00:00:00Z');
    assert.equal(fromBundleDocument(JSON.parse(JSON.stringify(doc))).hash, bundle.hash);
    const tampered = {
      ...doc,
      policies: [{ file: 'rbac.cedar', text: 'permit(principal, action, resource);' }],
    };
    assert.throws(() => fromBundleDocument(tampered), { code: 'policy_bundle_format' });
  });
});
