/** docs/identity.md documents every error code, and docs/openapi/identity.yaml every route identity serves. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parse } from 'yaml';
import { createLogger, MemoryAuditSink, openStore, systemClock } from '../../src/core/index.ts';
import { IDENTITY_ERRORS, identityComponent } from '../../src/identity/index.ts';
import { makeConfig } from './fixtures/identity-server.ts';

const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
const openapi = parse(readFileSync(new URL('../../docs/openapi/identity.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};

describe('identity documentation', () => {
  it('has a row with the status for every error code', () => {
    for (const [code, { status }] of Object.entries(IDENTITY_ERRORS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/identity.md has no row for ${code}`);
      assert.ok(row.includes(`| ${status} |`), `row for ${code} lacks status ${status}`);
    }
  });

  it('describes every route the component registers in the OpenAPI file', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulwark-identity-docs-'));
    const config = makeConfig('sqlite', home, 'identity');
    const instance = await identityComponent.create({
      name: 'identity',
      config,
      section: config.components['identity']!,
      logger: createLogger({ level: 'silent', component: 'identity', redactKeys: [] }),
      clock: systemClock,
      openStore: () => openStore(config.storage, { home: config.home, namespace: 'identity' }),
      audit: new MemoryAuditSink(),
    });
    const app = Fastify();
    const served: string[] = [];
    app.addHook('onRoute', (route) => {
      // `/oidc` and `/oidc/*` hand everything to oidc-provider, whose endpoints are listed one by one.
      if (route.url === '/oidc' || route.url === '/oidc/*') return;
      for (const method of [route.method].flat())
        if (method !== 'HEAD') served.push(`${method} ${route.url}`);
    });
    await app.register(instance.routes!);
    await app.ready();
    await app.close();
    await instance.close?.();
    const documented = Object.entries(openapi.paths)
      .filter(([path]) => !path.startsWith('/oidc/') || path === '/oidc/token/introspection')
      .flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => ['get', 'post', 'patch', 'put', 'delete'].includes(m))
          .map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      );
    assert.ok(served.length >= 30, `only ${served.length} routes seen`);
    assert.deepEqual(served.toSorted(), documented.toSorted());
    const provider = [
      '/oidc/.well-known/openid-configuration',
      '/oidc/jwks',
      '/oidc/auth',
      '/oidc/token',
      '/oidc/token/revocation',
      '/oidc/me',
      '/oidc/session/end',
    ];
    for (const path of provider) assert.ok(openapi.paths[path], `${path} documented`);
  });
});
