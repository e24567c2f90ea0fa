/**
 * The log's append queue, on a SQLite file (the writer thread) and in memory (appends on the event loop).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditLog } from '../../src/audit/log/audit-log.ts';
import { AUDIT_MIGRATIONS } from '../../src/audit/log/migrations.ts';
import type { AuditRecord } from '../../src/audit/record/record-schema.ts';
import { SqliteStore } from '../../src/core/index.ts';

describe('appends one after another', () => {
  for (const where of ['file', 'memory']) {
    it(`commits an append made as soon as the previous one resolved (${where})`, async () => {
      const dir = where === 'file' ? mkdtempSync(join(tmpdir(), 'log-append-')) : ':memory:';
      const store = new SqliteStore({ directory: dir, namespace: 'audit' });
      await store.migrate(AUDIT_MIGRATIONS);
      const log = await AuditLog.open(store);
      try {
        const rec = (id: string): AuditRecord => ({
          id,
          time: new Date().toISOString(),
          actor: { type: 'user', id: 'u-1' },
          action: 'identity.login',
          outcome: 'success',
          category: 'default',
        });
        // The second append ran before the first drain had let go of the queue: queued, never drained.
        await log.append([rec('first-0001')]);
        const second = log.append([rec('second-0001')]);
        const stuck = new Promise((r) => setTimeout(r, 2000, 'stuck'));
        assert.notEqual(await Promise.race([second, stuck]), 'stuck');
        assert.equal(log.size, 2);
      } finally {
        await log.close();
        await store.close();
        if (dir !== ':memory:') rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
