/** Tamper suite on PostgreSQL: an owner who disables the triggers still cannot change the log unseen. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { auditVerify, resolveTarget } from '../../src/cli/commands/audit.ts';
import {
  type AuditFixture,
  call,
  dropNamespace,
  event,
  PG_URL,
  startAudit,
} from './fixtures/audit-server.ts';

const sink = { write: () => true } as unknown as NodeJS.WritableStream;

describe('tamper suite (PostgreSQL)', () => {
  const fixtures: AuditFixture[] = [];
  after(async () => {
    for (const f of fixtures) {
      await f.stop();
      await dropNamespace('postgres', f.definition.name);
    }
  });

  async function tampered(sql: string): Promise<{ code?: string; index?: number | null }> {
    const f = await startAudit('postgres', { settings: { checkpointIntervalMs: 20 } });
    fixtures.push(f);
    for (let b = 0; b < 3; b++) {
      await call(f, 'POST', '/audit/v1/records', { records: Array.from({ length: 100 }, () => event()) });
      await new Promise((r) => setTimeout(r, 60));
    }
    const db = new pg.Client({
      connectionString: PG_URL,
      options: `-c search_path=bulwark_${f.definition.name}`,
    });
    await db.connect();
    await db.query('ALTER TABLE audit_segment DISABLE TRIGGER USER');
    await db.query(sql);
    await db.end();
    const report = await auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
    return { code: report.failure?.code, index: report.failure?.index };
  }

  it('detects a changed record and names its index', async () => {
    assert.deepEqual(
      await tampered(
        // Record 77 is line 78 of the first segment (one segment per batch of 100).
        `UPDATE audit_segment SET bodies = array_to_string((SELECT array_agg(CASE WHEN k = 78 THEN replace(l, '"identity.login"', '"identity.logout"') ELSE l END ORDER BY k) FROM unnest(string_to_array(bodies, E'\\n')) WITH ORDINALITY AS t(l, k)), E'\\n') WHERE first_idx = 0`,
      ),
      { code: 'leaf_mismatch', index: 77 },
    );
  });

  it('detects a deleted segment (batch) and names its first index', async () => {
    assert.deepEqual(await tampered('DELETE FROM audit_segment WHERE first_idx = 100'), {
      code: 'missing_record',
      index: 100,
    });
  });
});
