/** Append-only enforcement in PostgreSQL: triggers for everyone, and an insert-only role. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  type AuditFixture,
  call,
  dropNamespace,
  event,
  PG_URL,
  startAudit,
} from './fixtures/audit-server.ts';

describe('append-only on PostgreSQL', () => {
  let f: AuditFixture;
  let db: pg.Client;
  before(async () => {
    f = await startAudit('postgres');
    await call(f, 'POST', '/audit/v1/records', { records: Array.from({ length: 300 }, () => event()) });
    db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=bulwark_${f.definition.name}` });
    await db.connect();
  });
  after(async () => {
    await db.end();
    await f.stop();
    await dropNamespace('postgres', f.definition.name);
  });

  it('rejects UPDATE, DELETE and TRUNCATE of records even for the table owner', async () => {
    const updates = { audit_segment: 'n = 0', audit_record_id: 'idx = 0', audit_term: 'seg = 0' };
    for (const [table, set] of Object.entries(updates)) {
      await assert.rejects(db.query(`UPDATE ${table} SET ${set}`), /append-only/);
      await assert.rejects(db.query(`DELETE FROM ${table}`), /append-only/);
      await assert.rejects(db.query(`TRUNCATE ${table}`), /append-only/);
    }
    await assert.rejects(db.query('DELETE FROM audit_checkpoint'), /append-only/);
    await assert.rejects(db.query('UPDATE audit_tile SET hashes = NULL'), /append-only/);
    await assert.rejects(db.query('UPDATE audit_floor SET min_index = min_index - 1'), /only moves forward/);
    const { rows } = await db.query('SELECT COUNT(*)::int AS n FROM audit_record_id');
    assert.equal(rows[0].n, 300);
  });

  it('gives the insert-only role INSERT and SELECT but not UPDATE or DELETE', async () => {
    const role = `bulwark_${f.definition.name}_writer`;
    await db.query('BEGIN');
    try {
      await db.query(`SET LOCAL ROLE ${role}`);
      const { rows } = await db.query('SELECT COUNT(*)::int AS n FROM audit_record_id');
      assert.equal(rows[0].n, 300);
      await assert.rejects(db.query('UPDATE audit_segment SET n = 0'), /permission denied/);
    } finally {
      await db.query('ROLLBACK');
    }
    await db.query('BEGIN');
    try {
      await db.query(`SET LOCAL ROLE ${role}`);
      await assert.rejects(db.query('DELETE FROM audit_record_id'), /permission denied/);
    } finally {
      await db.query('ROLLBACK');
    }
    await db.query('BEGIN');
    try {
      await db.query(`SET LOCAL ROLE ${role}`);
      await assert.rejects(db.query('DELETE FROM audit_hold'), /permission denied/);
    } finally {
      await db.query('ROLLBACK');
    }
  });
});
