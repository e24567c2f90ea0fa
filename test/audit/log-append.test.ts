/**
 * The log's append queue, on a SQLite file (the writer thread) and in memory (appends on the event loop).
 *
 * A late retry of records a prune removed (their ids went with them) is refused, not stored a second time,
 * even with the clock stepped back after the prune.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AuditContext } from '../../src/audit/api/audit-context.ts';
import { AuditLog } from '../../src/audit/log/audit-log.ts';
import { logEntry } from '../../src/audit/log/log-entry.ts';
import { AUDIT_MIGRATIONS } from '../../src/audit/log/migrations.ts';
import { type AuditRecord, normaliseRecord } from '../../src/audit/record/record-schema.ts';
import { sensitivePolicy } from '../../src/audit/record/sensitive-fields.ts';
import { Retention } from '../../src/audit/retention/retention.ts';
import { SqliteStore } from '../../src/core/index.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2020, 0, 1);

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

describe('retention racing a late retry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prune-race-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a retry that a prune made expired after its check, instead of storing it again', async () => {
    const store = new SqliteStore({ directory: dir, namespace: 'audit' });
    await store.migrate(AUDIT_MIGRATIONS);
    const log = await AuditLog.open(store);
    try {
      const retentionDays = { default: 365 };
      const policy = sensitivePolicy({ secretKeys: [], hashKeys: [], maskKeys: [] }, Buffer.alloc(32));
      let now = T0 + DAY;
      const options = () => ({ policy, now, maxClockSkewMs: 300_000 });
      const raw = (i: number) => ({
        id: `rec-${String(i).padStart(6, '0')}`,
        time: new Date(T0).toISOString(),
        actor: { type: 'user', id: 'u-1' },
        action: 'identity.login',
        outcome: 'success',
      });
      const ctx = {
        settings: { retentionDays, pruneIntervalMs: 0 },
        store,
        log,
        checkpointer: {
          get stored() {
            return { size: log.size };
          },
        },
        clock: { now: () => now },
        logger: { error() {} },
      } as unknown as AuditContext;
      const retention = new Retention(ctx);
      log.useRetention(retention);
      const records: AuditRecord[] = [];
      for (let i = 0; i < 300; i++) records.push(normaliseRecord(raw(i), `records[${i}]`, options()));
      await log.append(records);
      now = T0 + 400 * DAY;
      await log.append([normaliseRecord({ ...raw(999), time: new Date(now).toISOString() }, 'r', options())]);
      const retry = [logEntry(normaliseRecord(raw(0), 'records[0]', options()))];
      // A prune at the moment the records expire removes their ids...
      now = T0 + 365 * DAY;
      const pruned = await retention.prune();
      assert.equal(pruned.minIndex, 256);
      const size = log.size;
      await assert.rejects(log.appendEntries(retry), { code: 'audit_expired' });
      // ...and a clock stepped back a moment after it does not let the retry in either.
      now = T0 + 365 * DAY - 1;
      await assert.rejects(log.appendEntries(retry), { code: 'audit_expired' });
      assert.equal(log.size, size, 'not stored a second time');
    } finally {
      await log.close();
      await store.close();
    }
  });
});
