/**
 * The request context Cedar decides on must carry the canonical path: a raw request-target handed to it by
 * mistake (`/x/../admin`) fails loudly in `requestContext`, and the mesh's ServicePolicy denies it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyEngine, requestContext } from '../../src/core/policy-engine/index.ts';
import { isCanonicalPath } from '../../src/core/policy-engine/request-context.ts';
import { meshTarget } from '../../src/sdk/mesh/index.ts';
import { ServicePolicy } from '../../src/sdk/mesh/service-policy.ts';

const raw = ['/x/../admin', '//admin', '/admin/./', '/.', '/..', 'admin', '', '/a//b'];
const canonical = ['/', '/admin', '/admin/', '/a/b.c/..d/...', '/café', '/a;b'];
const sid = (s: string) => `spiffe://bulwark.local/service/${s}`;

describe('request context path', () => {
  it('refuses to build a context from a raw request-target', () => {
    for (const path of raw) {
      assert.equal(isCanonicalPath(path), false, path);
      assert.throws(
        () => requestContext({ method: 'GET', path, sourceIp: '10.0.0.1', at: 0 }),
        TypeError,
        path,
      );
    }
    for (const path of canonical) {
      assert.equal(isCanonicalPath(path), true, path);
      assert.equal(requestContext({ method: 'get', path, sourceIp: '10.0.0.1', at: 0 }).path, path);
    }
  });

  it('accepts every path the mesh canonicalisation produces', () => {
    for (const target of ['/x/../%61dmin/', '//a//b/./c/..', '/%2e%2e', '/caf%C3%A9?q=1', '/a/b/']) {
      const t = meshTarget(target);
      assert.ok(t.ok, target);
      assert.ok(isCanonicalPath(t.target.path), `${target} -> ${t.target.path}`);
    }
  });

  it('makes the service policy deny a raw path even where a permit would match it', () => {
    const engine = new PolicyEngine();
    engine.load({
      policies: [
        {
          file: 'mesh.cedar',
          text: `permit (principal, action == Bulwark::Action::"call", resource);
forbid (principal, action, resource) when { context.path like "/admin*" };`,
        },
      ],
    });
    const policy = new ServicePolicy(engine);
    const call = { caller: sid('a'), callee: sid('b'), method: 'GET', sourceIp: '10.0.0.1', at: 0 };
    assert.equal(policy.authorize({ ...call, path: '/orders' }).decision, 'allow');
    assert.equal(policy.authorize({ ...call, path: '/admin' }).decision, 'deny');
    const rawDecision = policy.authorize({ ...call, path: '/x/../admin' });
    assert.equal(rawDecision.decision, 'deny');
    assert.equal(rawDecision.errors.length, 1);
  });
});
