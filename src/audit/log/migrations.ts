/**
 * The audit tables. Append-only is enforced by the database itself, not only by the absence of code:
 * triggers refuse UPDATE, DELETE (except below the retention floor) and TRUNCATE, and the floor can only
 * move forward. On PostgreSQL an insert-only role `<schema>_writer` is created for the service to log in as.
 */
import type { Migration } from '../../core/index.ts';

const SQLITE = `CREATE TABLE audit_record (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time TEXT NOT NULL, category TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, component TEXT, body TEXT NOT NULL);
CREATE INDEX audit_record_time ON audit_record (time);
CREATE INDEX audit_record_actor ON audit_record (actor);
CREATE INDEX audit_record_action ON audit_record (action);
CREATE TABLE audit_tile (level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE audit_checkpoint (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE audit_floor (id INTEGER PRIMARY KEY CHECK (id = 1), min_index INTEGER NOT NULL);
INSERT INTO audit_floor (id, min_index) VALUES (1, 0);
CREATE TABLE audit_hold (id TEXT PRIMARY KEY, category TEXT, from_index INTEGER, to_index INTEGER, reason TEXT NOT NULL, created TEXT NOT NULL);
CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record BEGIN SELECT RAISE(ABORT, 'audit_record is append-only'); END;
CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record WHEN OLD.idx >= (SELECT min_index FROM audit_floor) BEGIN SELECT RAISE(ABORT, 'audit_record is append-only above the retention floor'); END;
CREATE TRIGGER audit_tile_no_update BEFORE UPDATE ON audit_tile BEGIN SELECT RAISE(ABORT, 'audit_tile is append-only'); END;
CREATE TRIGGER audit_tile_no_delete BEFORE DELETE ON audit_tile BEGIN SELECT RAISE(ABORT, 'audit_tile is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
CREATE TRIGGER audit_floor_forward BEFORE UPDATE ON audit_floor WHEN NEW.min_index < OLD.min_index BEGIN SELECT RAISE(ABORT, 'the retention floor only moves forward'); END;
CREATE TRIGGER audit_floor_no_delete BEFORE DELETE ON audit_floor BEGIN SELECT RAISE(ABORT, 'the retention floor cannot be removed'); END;`;

const POSTGRES = `CREATE TABLE audit_record (idx BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, time TEXT NOT NULL, category TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, component TEXT, body TEXT NOT NULL);
CREATE INDEX audit_record_time ON audit_record (time);
CREATE INDEX audit_record_actor ON audit_record (actor);
CREATE INDEX audit_record_action ON audit_record (action);
CREATE TABLE audit_tile (level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BYTEA NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE audit_checkpoint (size BIGINT PRIMARY KEY, note TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE audit_floor (id INTEGER PRIMARY KEY CHECK (id = 1), min_index BIGINT NOT NULL);
INSERT INTO audit_floor (id, min_index) VALUES (1, 0);
CREATE TABLE audit_hold (id TEXT PRIMARY KEY, category TEXT, from_index BIGINT, to_index BIGINT, reason TEXT NOT NULL, created TEXT NOT NULL);
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;
CREATE FUNCTION audit_guard_record_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.idx >= (SELECT min_index FROM audit_floor) THEN
    RAISE EXCEPTION 'audit_record is append-only above the retention floor' USING ERRCODE = 'P0001';
  END IF;
  RETURN OLD;
END $$;
CREATE FUNCTION audit_guard_floor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.min_index < OLD.min_index THEN
    RAISE EXCEPTION 'the retention floor only moves forward' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record FOR EACH ROW EXECUTE FUNCTION audit_guard_record_delete();
CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_tile_no_change BEFORE UPDATE OR DELETE ON audit_tile FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_tile_no_truncate BEFORE TRUNCATE ON audit_tile FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_no_change BEFORE UPDATE OR DELETE ON audit_checkpoint FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_floor_forward BEFORE UPDATE ON audit_floor FOR EACH ROW EXECUTE FUNCTION audit_guard_floor();
CREATE TRIGGER audit_floor_no_delete BEFORE DELETE ON audit_floor FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_floor_no_truncate BEFORE TRUNCATE ON audit_floor FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
DO $$
DECLARE
  writer text := current_schema() || '_writer';
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = writer) THEN
    EXECUTE format('CREATE ROLE %I NOLOGIN', writer);
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), writer);
  EXECUTE format('GRANT SELECT, INSERT ON audit_record, audit_tile, audit_checkpoint TO %I', writer);
  EXECUTE format('GRANT SELECT ON audit_floor, audit_hold TO %I', writer);
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'no privilege to create the insert-only audit role; triggers still enforce append-only';
END $$;`;

/*
 * Version 2: segments. One row per ingest batch holds the canonical leaf bodies (one per line; canonical JSON
 * never contains a raw newline), so a batch of 1,000 records costs one record row, 1,000 short keys in the
 * id index (idempotency, lookup by id) and one row per distinct search term, instead of 1,000 rows with four
 * indexes each. Existing records move over as one-record segments; the old table is then dropped.
 * Search terms are `<field>=<value>` for actor, action, outcome, component and category. The unique index on
 * `audit_record_id.idx` keeps what the old primary key on `idx` guaranteed: two writers can never both
 * store a record at one index (segments alone could overlap), and pruning finds ids below the floor.
 */
const SQLITE_V2 = `CREATE TABLE audit_segment (first_idx INTEGER PRIMARY KEY, n INTEGER NOT NULL, min_time TEXT NOT NULL, max_time TEXT NOT NULL, bodies TEXT NOT NULL);
CREATE TABLE audit_record_id (id TEXT PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE UNIQUE INDEX audit_record_id_idx ON audit_record_id (idx);
CREATE TABLE audit_term (term TEXT NOT NULL, seg INTEGER NOT NULL, PRIMARY KEY (term, seg)) WITHOUT ROWID;
INSERT INTO audit_segment (first_idx, n, min_time, max_time, bodies) SELECT idx, 1, time, time, body FROM audit_record;
INSERT INTO audit_record_id (id, idx) SELECT id, idx FROM audit_record;
INSERT INTO audit_term (term, seg) SELECT 'actor=' || actor, idx FROM audit_record UNION ALL SELECT 'action=' || action, idx FROM audit_record UNION ALL SELECT 'outcome=' || outcome, idx FROM audit_record UNION ALL SELECT 'category=' || category, idx FROM audit_record UNION ALL SELECT 'component=' || component, idx FROM audit_record WHERE component IS NOT NULL;
DROP TABLE audit_record;
CREATE TRIGGER audit_segment_no_update BEFORE UPDATE ON audit_segment BEGIN SELECT RAISE(ABORT, 'audit_segment is append-only'); END;
CREATE TRIGGER audit_segment_no_delete BEFORE DELETE ON audit_segment WHEN OLD.first_idx + OLD.n > (SELECT min_index FROM audit_floor) BEGIN SELECT RAISE(ABORT, 'audit_segment is append-only above the retention floor'); END;
CREATE TRIGGER audit_record_id_no_update BEFORE UPDATE ON audit_record_id BEGIN SELECT RAISE(ABORT, 'audit_record_id is append-only'); END;
CREATE TRIGGER audit_record_id_no_delete BEFORE DELETE ON audit_record_id WHEN OLD.idx >= (SELECT min_index FROM audit_floor) BEGIN SELECT RAISE(ABORT, 'audit_record_id is append-only above the retention floor'); END;
CREATE TRIGGER audit_term_no_update BEFORE UPDATE ON audit_term BEGIN SELECT RAISE(ABORT, 'audit_term is append-only'); END;
CREATE TRIGGER audit_term_no_delete BEFORE DELETE ON audit_term WHEN EXISTS (SELECT 1 FROM audit_segment WHERE first_idx = OLD.seg) BEGIN SELECT RAISE(ABORT, 'audit_term is append-only while its segment exists'); END;`;

const POSTGRES_V2 = `CREATE TABLE audit_segment (first_idx BIGINT PRIMARY KEY, n INTEGER NOT NULL, min_time TEXT NOT NULL, max_time TEXT NOT NULL, bodies TEXT NOT NULL);
CREATE TABLE audit_record_id (id TEXT PRIMARY KEY, idx BIGINT NOT NULL);
CREATE UNIQUE INDEX audit_record_id_idx ON audit_record_id (idx);
CREATE TABLE audit_term (term TEXT NOT NULL, seg BIGINT NOT NULL, PRIMARY KEY (term, seg));
INSERT INTO audit_segment (first_idx, n, min_time, max_time, bodies) SELECT idx, 1, time, time, body FROM audit_record;
INSERT INTO audit_record_id (id, idx) SELECT id, idx FROM audit_record;
INSERT INTO audit_term (term, seg) SELECT 'actor=' || actor, idx FROM audit_record UNION ALL SELECT 'action=' || action, idx FROM audit_record UNION ALL SELECT 'outcome=' || outcome, idx FROM audit_record UNION ALL SELECT 'category=' || category, idx FROM audit_record UNION ALL SELECT 'component=' || component, idx FROM audit_record WHERE component IS NOT NULL;
DROP TABLE audit_record;
DROP FUNCTION audit_guard_record_delete();
CREATE FUNCTION audit_guard_segment_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.first_idx + OLD.n > (SELECT min_index FROM audit_floor) THEN
    RAISE EXCEPTION 'audit_segment is append-only above the retention floor' USING ERRCODE = 'P0001';
  END IF;
  RETURN OLD;
END $$;
CREATE FUNCTION audit_guard_record_id_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.idx >= (SELECT min_index FROM audit_floor) THEN
    RAISE EXCEPTION 'audit_record_id is append-only above the retention floor' USING ERRCODE = 'P0001';
  END IF;
  RETURN OLD;
END $$;
CREATE FUNCTION audit_guard_term_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM audit_segment WHERE first_idx = OLD.seg) THEN
    RAISE EXCEPTION 'audit_term is append-only while its segment exists' USING ERRCODE = 'P0001';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER audit_segment_no_update BEFORE UPDATE ON audit_segment FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_segment_no_delete BEFORE DELETE ON audit_segment FOR EACH ROW EXECUTE FUNCTION audit_guard_segment_delete();
CREATE TRIGGER audit_segment_no_truncate BEFORE TRUNCATE ON audit_segment FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_id_no_update BEFORE UPDATE ON audit_record_id FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_id_no_delete BEFORE DELETE ON audit_record_id FOR EACH ROW EXECUTE FUNCTION audit_guard_record_id_delete();
CREATE TRIGGER audit_record_id_no_truncate BEFORE TRUNCATE ON audit_record_id FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_term_no_update BEFORE UPDATE ON audit_term FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_term_no_delete BEFORE DELETE ON audit_term FOR EACH ROW EXECUTE FUNCTION audit_guard_term_delete();
CREATE TRIGGER audit_term_no_truncate BEFORE TRUNCATE ON audit_term FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
DO $$
DECLARE
  writer text := current_schema() || '_writer';
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = writer) THEN
    EXECUTE format('GRANT SELECT, INSERT ON audit_segment, audit_record_id, audit_term TO %I', writer);
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'no privilege to grant the insert-only audit role; triggers still enforce append-only';
END $$;`;

/*
 * Version 3: the insert-only role can run the service. It could not prune (UPDATE of the floor, DELETE below
 * it), place or release holds, or read the migrations, so the service had to log in as the tables' owner,
 * who can DISABLE or DROP the triggers and then rewrite the log. These grants add only what the triggers
 * still police: the floor moves forward only, and segments, ids and terms go only below it. UPDATE of the
 * floor is on `min_index` alone. SQLite has no roles: nothing to do there.
 */
const POSTGRES_V3 = `DO $$
DECLARE
  writer text := current_schema() || '_writer';
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = writer) THEN
    EXECUTE format('GRANT UPDATE (min_index) ON audit_floor TO %I', writer);
    EXECUTE format('GRANT DELETE ON audit_segment, audit_record_id, audit_term TO %I', writer);
    EXECUTE format('GRANT INSERT, DELETE ON audit_hold TO %I', writer);
    EXECUTE format('GRANT SELECT ON bulwark_migrations TO %I', writer);
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'no privilege to grant the insert-only audit role; triggers still enforce append-only';
END $$;`;

export const AUDIT_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'append-only merkle log', sql: { sqlite: SQLITE, postgres: POSTGRES } },
  { version: 2, name: 'segments of records', sql: { sqlite: SQLITE_V2, postgres: POSTGRES_V2 } },
  { version: 3, name: 'insert-only role runs the service', sql: { sqlite: '', postgres: POSTGRES_V3 } },
];
