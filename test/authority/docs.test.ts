/** Every error code of authority and the mesh is documented, and every authority route is in the OpenAPI file. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { AUTHORITY_ERRORS } from '../../src/authority/index.ts';
import { MTLS_ERRORS } from '../../src/core/mtls/index.ts';
import { SIDECAR_ERRORS } from '../../src/sidecar/index.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('authority and mesh documentation', () => {
  it('documents each error code with its status in a table row', () => {
    const check = (doc: string, catalog: Record<string, { status: number }>) => {
      const text = read(doc);
      for (const [code, { status }] of Object.entries(catalog)) {
        const row = text.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
        assert.ok(row, `${doc} has no row for ${code}`);
        assert.ok(row.includes(`| ${status} |`), `${doc}: row for ${code} lacks status ${status}`);
      }
    };
    check('docs/authority.md', AUTHORITY_ERRORS);
    check('docs/mesh.md', { ...MTLS_ERRORS, ...SIDECAR_ERRORS });
  });

  it('describes every route the authority registers in docs/openapi/authority.yaml', () => {
    const spec = parse(read('docs/openapi/authority.yaml')) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const dir = new URL('../../src/authority/api/', import.meta.url);
    const routes = readdirSync(dir)
      .filter((f) => f.endsWith('-routes.ts'))
      .flatMap((f) => [
        ...readFileSync(new URL(f, dir), 'utf8').matchAll(
          /app\.(get|post|delete)(?:<[^>]*>)?\(\s*'([^']+)'/g,
        ),
      ])
      .map((m) => [m[1]!, m[2]!.replace(/:(\w+)/g, '{$1}')] as const);
    assert.ok(routes.length >= 12, `found only ${routes.length} routes`);
    for (const [method, path] of routes) {
      assert.ok(spec.paths[path]?.[method], `openapi lacks ${method.toUpperCase()} ${path}`);
    }
  });
});
