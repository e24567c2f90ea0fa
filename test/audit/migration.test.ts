/**
 * Upgrading a log written with the one-row-per-record layout (migration 1) to segments (migration 2): every
 * record, the tree and idempotency carry over, and the upgraded log verifies end to end. Both engines.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AUDIT_MIGRATIONS } from '../../src/audit/log/migrations.ts';
import { TileTree } from '../../src/audit/log/tile-tree.ts';
import { leafData } from '../../src/audit/record/leaf-data.ts';
import type { AuditRecord } from '../../src/audit/record/record-schema.ts';
import { leafHash } from '../../src/audit/verifier/tree-hash.ts';
import { auditVerify, resolveTarget } from '../../src/cli/commands/audit.ts';
import { openStore } from '../../src/core/index.ts';
import {
  type AuditFixture,
  call,
  dropNamespace,
  type Engine,
  event,
  freshName,
  makeConfig,
  startAudit,
} from './fixtures/audit-server.ts';

const sink = { write: () => true } as unknown as NodeJS.WritableStream;
const OLD_RECORDS = 300;

function oldRecord(i: number): AuditRecord {
  return {
    id: `old-record-${String(i).padStart(4, '0')}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    actor: { type: 'user', id: `user-${i % 3}` },
    action: i % 2 ? 'identity.login' : 'identity.logout',
    outcome: 'success',
    source: { component: 'identity' },
    category: 'security',
    details: { n: i },
  };
}

/** Writes a log the way version 1 stored it: one row per record plus the full tiles. */
async function writeVersion1Log(engine: Engine, home: string, name: string): Promise<void> {
  const config = makeConfig(engine, home, name);
  const store = openStore(config.storage, { home, namespace: name });
  try {
    await store.migrate(AUDIT_MIGRATIONS.slice(0, 1));
    const tree = await TileTree.load(
      0,
      async () => undefined,
      async () => [],
    );
    const leaves: Buffer[] = [];
    await store.transaction(async (tx) => {
      for (let i = 0; i < OLD_RECORDS; i++) {
        const r = oldRecord(i);
        const body = leafData(r, i);
        leaves.push(leafHash(body));
        await tx.execute(
          'INSERT INTO audit_record (idx, id, time, category, actor, action, outcome, component, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [i, r.id, r.time, r.category, r.actor.id, r.action, r.outcome, 'identity', body],
        );
      }
      for (const t of tree.prepare(leaves).tiles)
        await tx.execute('INSERT INTO audit_tile (level, idx, hashes) VALUES (?, ?, ?)', [
          t.level,
          t.index,
          t.hashes,
        ]);
    });
  } finally {
    await store.close();
  }
}

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`migration to segments (${engine})`, () => {
    const fixtures: AuditFixture[] = [];
    after(async () => {
      for (const f of fixtures) {
        await f.stop();
        await dropNamespace(engine, f.definition.name);
      }
    });

    it('keeps every record, its index, idempotency and search, and the upgraded log verifies', async () => {
      const home = mkdtempSync(join(tmpdir(), 'bulwark-audit-migrate-'));
      const name = freshName(engine);
      await writeVersion1Log(engine, home, name);
      const f = await startAudit(engine, { home, name, settings: { checkpointIntervalMs: 20 } });
      fixtures.push(f);

      const old = (await call(f, 'GET', '/audit/v1/records/old-record-0123')).json();
      assert.equal(old.index, 123);
      assert.equal(old.details.n, 123);

      const found = (
        await call(f, 'GET', '/audit/v1/records?actor=user-1&action=identity.login&limit=1000')
      ).json();
      assert.deepEqual(
        found.records.map((r: { index: number }) => r.index),
        Array.from({ length: OLD_RECORDS }, (_, i) => i).filter((i) => i % 3 === 1 && i % 2 === 1),
      );

      // A retry of an old record is a duplicate at its old index; different content under its id is a 409.
      const retry = await call(f, 'POST', '/audit/v1/records', { records: [oldRecord(7)] });
      assert.deepEqual(retry.json().results, [{ id: 'old-record-0007', index: 7, duplicate: true }]);
      const forged = await call(f, 'POST', '/audit/v1/records', {
        records: [{ ...oldRecord(7), outcome: 'failure' }],
      });
      assert.equal(forged.status, 409);

      const fresh = await call(f, 'POST', '/audit/v1/records', { records: [event(), event()] });
      assert.deepEqual(
        fresh.json().results.map((r: { index: number }) => r.index),
        [OLD_RECORDS, OLD_RECORDS + 1],
      );
      await new Promise((r) => setTimeout(r, 100));
      const report = await auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
      assert.equal(report.ok, true, JSON.stringify(report.failure));
      assert.equal(report.size, OLD_RECORDS + 2);
    });
  });
}
