/** Append-only enforcement in PostgreSQL: triggers for everyone, and an insert-only role. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Clock } from '../../src/core/index.ts';
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

  it('gives the insert-only role INSERT and SELECT, and no UPDATE or DELETE the triggers do not police', async () => {
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
      // It may prune (DELETE below the floor), so above the floor the trigger is what refuses.
      await assert.rejects(db.query('DELETE FROM audit_record_id'), /append-only/);
    } finally {
      await db.query('ROLLBACK');
    }
    await db.query('BEGIN');
    try {
      await db.query(`SET LOCAL ROLE ${role}`);
      await assert.rejects(db.query('DELETE FROM audit_checkpoint'), /permission denied/);
    } finally {
      await db.query('ROLLBACK');
    }
  });
});

const PG_ROLE = new URL(PG_URL).username;

describe('the service logged in as the insert-only role', () => {
  it('ingests, holds and prunes, and has no route round the triggers', async () => {
    const owner = await startAudit('postgres', { settings: { checkpointIntervalMs: 20 } });
    const name = owner.definition.name;
    const role = `bulwark_${name}_writer`;
    const login = `${role}_svc`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await call(owner, 'POST', '/audit/v1/records', { records: Array.from({ length: 300 }, () => event()) });
      await owner.stop(); // migrations ran as the owner; from now on the service never needs to own a table
      await admin.query(`CREATE ROLE ${login} LOGIN IN ROLE ${role}`);
      const url = new URL(PG_URL);
      url.username = login;
      const later = Date.now() + 3 * 86_400_000;
      const clock: Clock = { now: () => later };
      const f = await startAudit('postgres', {
        home: owner.home,
        name,
        pgUrl: url.href,
        clock,
        settings: { checkpointIntervalMs: 20, retentionDays: { default: 1 } },
      });
      try {
        const hold = await call(f, 'POST', '/audit/v1/holds', {
          fromIndex: 290,
          toIndex: 290,
          reason: 'case 1',
        });
        assert.equal(hold.status, 201);
        assert.equal(
          (await call(f, 'DELETE', `/audit/v1/holds/${(hold.json() as { id: string }).id}`)).status,
          204,
        );
        const prune = await call(f, 'POST', '/audit/v1/retention/prune');
        assert.equal(prune.status, 200);
        assert.equal((prune.json() as { minIndex: number }).minIndex, 256);
      } finally {
        await f.stop();
      }

      const svc = new pg.Client({ connectionString: url.href, options: `-c search_path=bulwark_${name}` });
      await svc.connect();
      try {
        const refused: [string, RegExp][] = [
          ['ALTER TABLE audit_segment DISABLE TRIGGER USER', /must be owner/],
          ['ALTER TABLE audit_segment DISABLE TRIGGER audit_segment_no_delete', /must be owner/],
          ['DROP TRIGGER audit_record_id_no_delete ON audit_record_id', /must be owner/],
          ['ALTER TABLE audit_tile OWNER TO CURRENT_USER', /must be owner/],
          ['SET session_replication_role = replica', /permission denied/],
          [
            'CREATE OR REPLACE FUNCTION audit_guard_segment_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$',
            /must be owner|permission denied/,
          ],
          ['TRUNCATE audit_segment', /permission denied/],
          ['TRUNCATE audit_checkpoint', /permission denied/],
          ['DELETE FROM audit_segment', /append-only/],
          ['DELETE FROM audit_record_id', /append-only/],
          ['DELETE FROM audit_term', /append-only/],
          ['DELETE FROM audit_tile', /permission denied/],
          ['DELETE FROM audit_checkpoint', /permission denied/],
          ['UPDATE audit_segment SET n = 0', /permission denied/],
          ['UPDATE audit_floor SET min_index = 0', /only moves forward/],
          ['UPDATE audit_floor SET id = 2', /permission denied/],
          ['DELETE FROM audit_floor', /permission denied/],
          ['DELETE FROM bulwark_migrations', /permission denied/],
          [`SET ROLE ${PG_ROLE}`, /permission denied/],
        ];
        for (const [sql, why] of refused) await assert.rejects(svc.query(sql), why, sql);
      } finally {
        await svc.end();
      }
    } finally {
      await dropNamespace('postgres', name);
      await admin.query(`DROP ROLE IF EXISTS ${login}`);
      await admin.end();
    }
  });
});
