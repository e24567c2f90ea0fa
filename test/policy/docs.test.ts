/** docs/policy.md documents every error code, and docs/openapi/policy.yaml every route. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parse } from 'yaml';
import { createLogger, openStore } from '../../src/core/index.ts';
import { PolicyEngine } from '../../src/core/policy-engine/index.ts';
import { POLICY_ERRORS, PolicyService, PolicyStore, policyRoutes } from '../../src/policy/index.ts';

const read = (path: string) => readFileSync(new URL(`../../docs/${path}`, import.meta.url), 'utf8');

describe('policy documentation', () => {
  it('has a row with the status for every policy error code', () => {
    const text = read('policy.md');
    for (const [code, { status }] of Object.entries(POLICY_ERRORS)) {
      const row = text.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/policy.md has no row for ${code}`);
      assert.ok(row.includes(`| ${status} |`), `row for ${code} lacks status ${status}`);
    }
  });

  it('describes every HTTP route in the OpenAPI file', async () => {
    const store = openStore(
      { engine: 'sqlite', postgres: { url: 'postgres://unused', poolSize: 1, ssl: false } },
      { home: mkdtempSync(join(tmpdir(), 'bulwark-policy-docs-')), namespace: 'policy' },
    );
    const engine = new PolicyEngine();
    const service = new PolicyService({
      store: new PolicyStore(store),
      engine,
      directory: null,
      clock: { now: () => 0 },
      logger: createLogger({ level: 'silent', component: 'policy' }),
    });
    const app = Fastify();
    const routes: string[] = [];
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat())
        if (method !== 'HEAD') routes.push(`${method.toLowerCase()} ${route.url}`);
    });
    await app.register(policyRoutes(service, engine));
    await app.ready();
    const spec = parse(read('openapi/policy.yaml')) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((k) => k !== 'parameters')
        .map((m) => `${m} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    assert.deepEqual([...routes].sort(), [...documented].sort());
    await app.close();
    await store.close();
  });
});
