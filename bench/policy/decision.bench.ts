/**
 * In-process Cedar decision on a 100-policy set: the embedded engine (pre-parsed policies, entity slice,
 * decision cache) beside the same request through a plain stateless `isAuthorized` call.
 * Run: flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/policy/decision.bench.ts
 */
import { type EntityJson, isAuthorized } from '@cedar-policy/cedar-wasm/nodejs';
import {
  BULWARK_SCHEMA,
  EntityIndex,
  PolicyEngine,
  requestContext,
  sliceEntities,
} from '../../src/core/policy-engine/index.ts';

const ROLES = 40;
const tenant = (i: number) => ({ __entity: { type: 'Bulwark::Tenant', id: `t${i % 5}` } });

/** 100 policies: RBAC per role and API, tenant isolation, service allow lists, ABAC guards. */
function policies(): string {
  const out: string[] = [];
  for (let i = 0; i < 40; i++) {
    out.push(
      `@id("rbac-${i}")\npermit(principal in Bulwark::Role::"role${i}", action in [Bulwark::Action::"read", Bulwark::Action::"write"], resource in Bulwark::Api::"api${i % 10}")\nwhen { principal has tenant && principal.tenant == resource.tenant };`,
    );
  }
  for (let i = 0; i < 40; i++) {
    out.push(
      `@id("s2s-${i}")\npermit(principal == Bulwark::Service::"spiffe://bulwark.test/svc${i}", action == Bulwark::Action::"call", resource in Bulwark::Service::"spiffe://bulwark.test/svc${(i + 1) % 40}");`,
    );
  }
  for (let i = 0; i < 10; i++) {
    out.push(
      `@id("mfa-${i}")\nforbid(principal, action == Bulwark::Action::"delete", resource in Bulwark::Api::"api${i}")\nunless { context.amr.contains("otp") || context.amr.contains("hwk") };`,
    );
  }
  for (let i = 0; i < 10; i++) {
    out.push(
      `@id("net-${i}")\nforbid(principal, action in Bulwark::Action::"access", resource in Bulwark::Api::"api${i}")\nwhen { !context.sourceIp.isInRange(ip("10.0.0.0/8")) && context.hour < ${i + 6} };`,
    );
  }
  return out.join('\n\n');
}

function entities(): EntityJson[] {
  const out: EntityJson[] = [];
  for (let i = 0; i < ROLES; i++)
    out.push({ uid: { type: 'Bulwark::Role', id: `role${i}` }, attrs: {}, parents: [] });
  for (let i = 0; i < 10; i++)
    out.push({ uid: { type: 'Bulwark::Api', id: `api${i}` }, attrs: {}, parents: [] });
  for (let i = 0; i < 200; i++) {
    out.push({
      uid: { type: 'Bulwark::User', id: `user${i}` },
      attrs: { tenant: tenant(i) },
      parents: [{ type: 'Bulwark::Role', id: `role${i % ROLES}` }],
    });
    out.push({
      uid: { type: 'Bulwark::Route', id: `route${i}` },
      attrs: { tenant: tenant(i) },
      parents: [{ type: 'Bulwark::Api', id: `api${i % 10}` }],
    });
  }
  return out;
}

const text = policies();
const store = entities();
const engine = new PolicyEngine({ cacheSize: 10_000 });
const loadStart = process.hrtime.bigint();
const bundle = engine.load({
  policies: [{ file: 'bench.cedar', text }],
  entities: { file: 'entities.json', entities: store },
});
const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
if (bundle.policies.length !== 100) throw new Error(`expected 100 policies, got ${bundle.policies.length}`);
const uncached = new PolicyEngine({ cacheSize: 0 });
uncached.apply(bundle);

/** A realistic mix: 500 distinct callers and routes, so the cache works on a working set, not one key. */
const requests = Array.from({ length: 500 }, (_, i) => ({
  principal: { type: 'Bulwark::User', id: `user${i % 200}` },
  action: i % 3 === 0 ? 'write' : 'read',
  resource: { type: 'Bulwark::Route', id: `route${(i * 7) % 200}` },
  context: requestContext({
    method: 'GET',
    path: `/r/${i}`,
    sourceIp: '10.0.0.7',
    amr: ['pwd'],
    at: Date.UTC(2026, 0, 1, 12),
  }),
}));
const staticPolicies = Object.fromEntries(bundle.policies.map((p) => [p.id, p.text]));

function measure(name: string, iterations: number, fn: (i: number) => unknown): { p50: number; p99: number } {
  for (let i = 0; i < Math.min(iterations, 2000); i++) fn(i);
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    fn(i);
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
  }
  samples.sort();
  const p50 = samples[Math.floor(iterations * 0.5)] as number;
  const p99 = samples[Math.floor(iterations * 0.99)] as number;
  console.log(
    `${name.padEnd(48)} p50 ${p50.toFixed(1).padStart(8)} us   p99 ${p99.toFixed(1).padStart(8)} us`,
  );
  return { p50, p99 };
}

const at = (i: number) => requests[i % requests.length] as (typeof requests)[number];
// Check that the three paths agree before timing them.
for (let i = 0; i < requests.length; i++) {
  const r = at(i);
  const a = engine.decide(r).decision;
  const b = uncached.decide(r).decision;
  const c = isAuthorized({
    ...r,
    action: { type: 'Bulwark::Action', id: r.action },
    entities: store,
    policies: { staticPolicies },
    schema: BULWARK_SCHEMA,
    validateRequest: true,
  });
  if (c.type !== 'success' || a !== b || a !== c.response.decision)
    throw new Error(`paths disagree on request ${i}`);
}

console.log(`bundle load (compile, validate, pre-parse, partitions): ${loadMs.toFixed(0)} ms`);
console.log(
  `100 policies, ${store.length} known entities, ${requests.length} distinct requests (node ${process.version})`,
);
const cached = measure('engine, warm decision cache', 100_000, (i) => engine.decide(at(i)));
const miss = measure('engine, cache off (pre-parsed + entity slice)', 5_000, (i) => uncached.decide(at(i)));
const stateless = measure('stateless isAuthorized (whole store)', 300, (i) => {
  const r = at(i);
  return isAuthorized({
    ...r,
    action: { type: 'Bulwark::Action', id: r.action },
    entities: store,
    policies: { staticPolicies },
    schema: BULWARK_SCHEMA,
    validateRequest: true,
  });
});
const index = new EntityIndex(store);
const sliced = measure('stateless isAuthorized (entity slice)', 300, (i) => {
  const r = at(i);
  return isAuthorized({
    ...r,
    action: { type: 'Bulwark::Action', id: r.action },
    entities: sliceEntities(index, [r.principal, r.resource], r.context, undefined),
    policies: { staticPolicies },
    schema: BULWARK_SCHEMA,
    validateRequest: true,
  });
});
console.log(
  `ratio stateless (slice) / engine (cached): p50 ${(sliced.p50 / cached.p50).toFixed(0)}x   p99 ${(sliced.p99 / cached.p99).toFixed(0)}x`,
);
console.log(
  `ratio stateless / engine (cached):   p50 ${(stateless.p50 / cached.p50).toFixed(0)}x   p99 ${(stateless.p99 / cached.p99).toFixed(0)}x`,
);
console.log(
  `ratio stateless / engine (uncached): p50 ${(stateless.p50 / miss.p50).toFixed(1)}x   p99 ${(stateless.p99 / miss.p99).toFixed(1)}x`,
);
console.log(
  `goal p50 <= 10 us, p99 <= 50 us (cached): ${cached.p50 <= 10 && cached.p99 <= 50 ? 'met' : 'NOT met'}`,
);
