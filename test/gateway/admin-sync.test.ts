/**
 * The admin API's sync, in process (fastify inject, admin tokens): every change it makes to the routes in
 * force is audited, also when writing the route file fails after the table was swapped.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { stringify } from 'yaml';
import { MemoryAuditSink } from '../../src/core/index.ts';
import { adminRoutes } from '../../src/gateway/admin/admin-routes.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { silentLogger } from './fixtures/harness.ts';

const OPERATOR = 'operator-token-0123456789abcdef';

test('a sync whose file cannot be written is still audited: its table is in force', async () => {
  const audit = new MemoryAuditSink();
  const gateway = new Gateway({
    routes: { format_version: '1', services: [], routes: [] },
    issuers: [],
    logger: silentLogger(),
    audit,
  });
  // The route file's directory is a regular file: mkdir and the write fail (also as root).
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-admin-sync-'));
  writeFileSync(join(dir, 'not-a-dir'), '');
  const app = Fastify();
  await app.register(
    adminRoutes({
      gateway,
      routesFile: join(dir, 'not-a-dir', 'routes.yaml'),
      tokens: [{ sha256: createHash('sha256').update(OPERATOR).digest('hex'), role: 'operator' }],
      operators: [],
      viewers: [],
    }),
  );
  const yaml = stringify({
    format_version: '1',
    services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
    routes: [{ name: 'open', service: 'svc', paths: ['/open'], auth: { required: false } }],
  });
  const res = await app.inject({
    method: 'PUT',
    url: '/v1/gateway/routes',
    headers: { authorization: `Bearer ${OPERATOR}` },
    payload: { yaml },
  });
  assert.ok(res.statusCode >= 500, res.body);
  // The new table serves all the same ...
  assert.equal(gateway.runtime.table.routes[0]?.name, 'open');
  // ... so the change is in the audit log, with who made it.
  const record = audit.events.find((e) => e.action === 'gateway.routes.sync');
  assert.ok(record, 'the applied sync was not audited');
  assert.match(record.actor.id, /^admin-token:/);
  await app.close();
  await gateway.close();
});
