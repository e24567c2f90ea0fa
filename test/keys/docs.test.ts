/** docs/keys.md documents every error code, and docs/openapi/keys.yaml every route the component serves. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parse } from 'yaml';
import { adminRoutes } from '../../src/keys/api/admin-routes.ts';
import type { KeysServices } from '../../src/keys/api/services.ts';
import { subjectRoutes } from '../../src/keys/api/subject-routes.ts';
import { transitRoutes } from '../../src/keys/api/transit-routes.ts';
import { KEYS_ERRORS } from '../../src/keys/index.ts';

const doc = readFileSync(new URL('../../docs/keys.md', import.meta.url), 'utf8');
const openapi = parse(readFileSync(new URL('../../docs/openapi/keys.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};

describe('keys documentation', () => {
  it('has a row with the status for every error code', () => {
    for (const [code, { status }] of Object.entries(KEYS_ERRORS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/keys.md has no row for ${code}`);
      assert.ok(row.includes(`| ${status} |`), `row for ${code} lacks status ${status}`);
    }
  });

  it('describes every route the component registers in the OpenAPI file', async () => {
    const app = Fastify();
    const served: string[] = [];
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat())
        if (method !== 'HEAD') served.push(`${method} ${route.url}`);
    });
    const services = { maxBatch: 1000 } as unknown as KeysServices;
    await app.register(async (scope) => {
      adminRoutes(scope, services);
      transitRoutes(scope, services);
      subjectRoutes(scope, services);
    });
    await app.ready();
    await app.close();
    const documented = Object.entries(openapi.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'post', 'patch', 'put', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    assert.ok(served.length >= 19, `only ${served.length} routes seen`);
    assert.deepEqual(served.toSorted(), documented.toSorted());
  });
});
