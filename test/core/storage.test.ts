/**
 * One storage suite, run against both engines: SQLite in a temporary data directory and PostgreSQL on
 * 127.0.0.1:5432 (database `test`). When PostgreSQL is down the PostgreSQL half fails with a message saying
 * so; it is never skipped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StorageConfig } from '../../src/core/config/types.ts';
import { type Migration, openStore, type StorageError, type Store } from '../../src/core/index.ts';
import { TEST_PG_URL as PG_URL } from '../fixtures/config.ts';

export { PG_URL };

const home = mkdtempSync(join(tmpdir(), 'bulwark-storage-'));

const engines: Record<string, StorageConfig> = {
  sqlite: { engine: 'sqlite', postgres: { url: PG_URL, poolSize: 4, ssl: false } },
  postgres: { engine: 'postgres', postgres: { url: PG_URL, poolSize: 4, ssl: false } },
};

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'items',
    sql: 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER NOT NULL DEFAULT 0);',
  },
  {
    version: 2,
    name: 'blobs',
    sql: {
      sqlite: 'CREATE TABLE blobs (id TEXT PRIMARY KEY, data BLOB NOT NULL, big INTEGER, flag INTEGER);',
      postgres: 'CREATE TABLE blobs (id TEXT PRIMARY KEY, data BYTEA NOT NULL, big BIGINT, flag BOOLEAN);',
    },
  },
];

for (const [engine, storage] of Object.entries(engines)) {
  describe(`storage on ${engine}`, () => {
    const namespace = `t${randomBytes(4).toString('hex')}`;
    const opened: Store[] = [];
    const open = (ns = namespace) => {
      const store = openStore(storage, { home, namespace: ns });
      opened.push(store);
      return store;
    };

    after(async () => {
      if (engine === 'postgres') {
        const admin = open('cleanup');
        for (const ns of [namespace, `${namespace}_b`, `${namespace}_f`, 'cleanup']) {
          await admin.execute(`DROP SCHEMA IF EXISTS bulwark_${ns} CASCADE`).catch(() => undefined);
        }
      }
      await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    });

    it('applies migrations once, in order, and reports the current version', async () => {
      const store = open();
      assert.deepEqual(await store.migrate(MIGRATIONS), { applied: [1, 2], current: 2 });
      assert.deepEqual(await store.migrate(MIGRATIONS), { applied: [], current: 2 });
    });

    it('refuses a migration whose text changed after it was applied', async () => {
      const store = open();
      const edited = [MIGRATIONS[0]!, { ...MIGRATIONS[1]!, sql: 'CREATE TABLE other (x INTEGER);' }];
      await assert.rejects(
        store.migrate(edited),
        (err: StorageError) => err.code === 'storage_migration_tampered',
      );
    });

    it('rolls a failing migration back whole', async () => {
      const store = open(`${namespace}_f`);
      const bad: Migration[] = [
        { version: 1, name: 'half', sql: 'CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);' },
      ];
      await assert.rejects(
        store.migrate(bad),
        (err: StorageError) => err.code === 'storage_migration_failed',
      );
      // The table from the first statement must not exist: the migration is all or nothing.
      await assert.rejects(store.query('SELECT * FROM half'));
      assert.deepEqual(await store.migrate([]), { applied: [], current: 0 });
    });

    it('binds parameters of every supported type and reads them back', async () => {
      const store = open();
      const data = new Uint8Array([0, 1, 2, 255]);
      await store.execute('INSERT INTO blobs (id, data, big, flag) VALUES (?, ?, ?, ?)', [
        'a',
        data,
        9007199254740991,
        true,
      ]);
      const [row] = await store.query<{ id: string; data: Uint8Array; big: number; flag: unknown }>(
        'SELECT id, data, big, flag FROM blobs WHERE id = ?',
        ['a'],
      );
      assert.equal(row!.id, 'a');
      assert.deepEqual(new Uint8Array(row!.data), data);
      assert.equal(row!.big, 9007199254740991);
      assert.ok(row!.flag === true || row!.flag === 1);
    });

    it('leaves question marks inside string literals alone', async () => {
      const store = open();
      const [row] = await store.query<{ q: string; p: string }>("SELECT 'who?' AS q, ? AS p", ['x']);
      assert.deepEqual({ ...row }, { q: 'who?', p: 'x' });
    });

    it('commits a transaction that resolves and rolls back one that throws', async () => {
      const store = open();
      await store.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (id, name) VALUES (?, ?)', [1, 'kept']);
      });
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.execute('INSERT INTO items (id, name) VALUES (?, ?)', [2, 'dropped']);
          throw new Error('abort');
        }),
        /abort/,
      );
      const rows = await store.query<{ name: string }>('SELECT name FROM items ORDER BY id');
      assert.deepEqual(
        rows.map((r) => r.name),
        ['kept'],
      );
    });

    it('reports a uniqueness violation as storage_constraint', async () => {
      const store = open();
      await assert.rejects(
        store.execute('INSERT INTO items (id, name) VALUES (?, ?)', [3, 'kept']),
        (err: StorageError) => err.code === 'storage_constraint' && err.status === 409,
      );
    });

    it('keeps concurrent read-modify-write transactions from losing updates', async () => {
      const store = open();
      await store.execute('INSERT INTO items (id, name, n) VALUES (?, ?, ?)', [10, 'counter', 0]);
      await Promise.all(
        Array.from({ length: 20 }, () =>
          store.transaction(async (tx) => {
            const lock = store.engine === 'postgres' ? ' FOR UPDATE' : '';
            const [row] = await tx.query<{ n: number }>(`SELECT n FROM items WHERE id = ?${lock}`, [10]);
            await tx.execute('UPDATE items SET n = ? WHERE id = ?', [Number(row!.n) + 1, 10]);
          }),
        ),
      );
      const [row] = await store.query<{ n: number }>('SELECT n FROM items WHERE id = ?', [10]);
      assert.equal(Number(row!.n), 20);
    });

    it("keeps each component's tables apart", async () => {
      const other = open(`${namespace}_b`);
      await other.migrate([]);
      await assert.rejects(other.query('SELECT * FROM items'));
    });

    it('rejects a namespace that is not a plain identifier', () => {
      assert.throws(() => openStore(storage, { home, namespace: 'x; DROP TABLE y' }), TypeError);
    });
  });
}

describe('storage engines specifically', () => {
  it('keeps SQLite data in one WAL-mode file per component under <home>/data', async () => {
    const store = openStore(engines['sqlite']!, { home, namespace: 'walcheck' });
    const [row] = await store.query<{ journal_mode: string }>('PRAGMA journal_mode');
    assert.equal(row!.journal_mode, 'wal');
    assert.ok(existsSync(join(home, 'data', 'walcheck.db')));
    await store.close();
  });

  it('fails with storage_unavailable naming host and port, not the password, when PostgreSQL does not answer', async () => {
    const store = openStore(
      {
        engine: 'postgres',
        postgres: { url: 'postgres://bulwark:hunter2secret@127.0.0.1:1/test', poolSize: 1, ssl: false },
      },
      { home, namespace: 'down' },
    );
    await assert.rejects(store.query('SELECT 1'), (err: StorageError) => {
      assert.equal(err.code, 'storage_unavailable');
      assert.match(err.message, /127\.0\.0\.1:1/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
    await store.close();
  });
});
