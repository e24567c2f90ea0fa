/**
 * docs/gateway.md documents every error code, and docs/openapi/gateway-admin.yaml every admin route and
 * the fields its request bodies accept: a client written from the document can use everything the API
 * takes, and nothing answers that the document does not describe.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parse } from 'yaml';
import { MemoryAuditSink } from '../../src/core/index.ts';
import { adminRoutes } from '../../src/gateway/admin/admin-routes.ts';
import { GATEWAY_ERRORS } from '../../src/gateway/errors.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { silentLogger } from './fixtures/harness.ts';

const read = (path: string) => readFileSync(new URL(`../../docs/${path}`, import.meta.url), 'utf8');

interface Operation {
  requestBody?: { $ref?: string; content?: Record<string, { schema?: { properties?: object } }> };
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { requestBodies: Record<string, NonNullable<Operation['requestBody']>> };
}

describe('gateway documentation', () => {
  it('has a row with the status for every gateway error code', () => {
    const text = read('gateway.md');
    for (const [code, { status }] of Object.entries(GATEWAY_ERRORS)) {
      const row = text.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/gateway.md has no row for ${code}`);
      assert.ok(row.includes(`| ${status} |`), `row for ${code} lacks status ${status}`);
    }
  });

  it('describes every admin route, and every field of its request body, in the OpenAPI file', async () => {
    const gateway = new Gateway({
      routes: { format_version: '1', services: [], routes: [] },
      issuers: [],
      logger: silentLogger(),
      audit: new MemoryAuditSink(),
    });
    const app = Fastify();
    const served = new Map<string, string[]>();
    app.addHook('onRoute', (route) => {
      const body = (route.schema?.body as { properties?: object } | undefined)?.properties;
      for (const method of [route.method].flat()) {
        if (method !== 'HEAD') served.set(`${method.toLowerCase()} ${route.url}`, Object.keys(body ?? {}));
      }
    });
    await app.register(
      adminRoutes({ gateway, routesFile: '/nonexistent', tokens: [], operators: [], viewers: [] }),
    );
    await app.ready();
    // Core's Service adds the one Prometheus scrape of the process beside the component's routes.
    served.set('get /metrics', []);
    const spec = parse(read('openapi/gateway-admin.yaml')) as Spec;
    const documented = new Map<string, string[]>();
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === 'parameters') continue;
        const ref = op.requestBody?.$ref?.split('/').at(-1);
        const body = ref ? spec.components.requestBodies[ref] : op.requestBody;
        const schema = body?.content?.['application/json']?.schema;
        documented.set(
          `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`,
          Object.keys(schema?.properties ?? {}),
        );
      }
    }
    assert.deepEqual([...served.keys()].sort(), [...documented.keys()].sort());
    for (const [route, fields] of served) {
      assert.deepEqual(
        [...(documented.get(route) ?? [])].sort(),
        [...fields].sort(),
        `body fields of ${route}`,
      );
    }
    await app.close();
    await gateway.close(0);
  });
});
