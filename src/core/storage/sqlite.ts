/**
 * The embedded engine: one SQLite file per component in the data directory, opened with the built-in
 * `node:sqlite` (no native build), in WAL mode with `synchronous=FULL` so that a committed transaction
 * survives a power cut, which the audit log's "acknowledged means durable" promise depends on.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { StorageError } from '../errors.ts';
import { Mutex } from '../internal/mutex.ts';
import { runMigrations } from './migrate.ts';
import type { Migration, MigrationReport, Queryable, Row, SqlValue, Store } from './types.ts';

export interface SqliteOptions {
  /** Directory the file goes in; `:memory:` keeps the database in memory (tests). */
  directory: string;
  namespace: string;
}

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly namespace: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #lock = new Mutex();
  readonly #direct: Queryable;

  constructor(options: SqliteOptions) {
    this.namespace = options.namespace;
    let path = ':memory:';
    if (options.directory !== ':memory:') {
      mkdirSync(options.directory, { recursive: true, mode: 0o700 });
      path = join(options.directory, `${options.namespace}.db`);
    }
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec(
        'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;',
      );
    } catch (cause) {
      throw new StorageError(
        'storage_unavailable',
        `cannot open the SQLite database of ${options.namespace}`,
        { cause },
      );
    }
    this.#direct = {
      query: (sql, params) => this.#query(sql, params),
      execute: (sql, params) => this.#execute(sql, params),
    };
  }

  query<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#lock.run(async () => this.#query<T>(sql, params));
  }

  execute(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#lock.run(async () => this.#execute(sql, params));
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#lock.run(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.#direct);
        this.#db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  migrate(migrations: readonly Migration[]): Promise<MigrationReport> {
    return runMigrations(this, migrations, async () => undefined);
  }

  async close(): Promise<void> {
    await this.#lock.run(async () => {
      if (this.#db.isOpen) this.#db.close();
    });
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #query<T extends Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    try {
      return Promise.resolve(this.#prepare(sql).all(...params.map(bind)) as T[]);
    } catch (err) {
      return Promise.reject(translate(err));
    }
  }

  #execute(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    try {
      if (params.length === 0 && sql.includes(';')) {
        this.#db.exec(sql);
        return Promise.resolve(0);
      }
      return Promise.resolve(Number(this.#prepare(sql).run(...params.map(bind)).changes));
    } catch (err) {
      return Promise.reject(translate(err));
    }
  }
}

function bind(value: SqlValue): SQLInputValue {
  return typeof value === 'boolean' ? (value ? 1 : 0) : value;
}

function translate(err: unknown): unknown {
  const message = err instanceof Error ? err.message : '';
  if (/constraint failed/i.test(message)) {
    return new StorageError(
      'storage_constraint',
      message.replace(/^.*?constraint failed: ?/i, 'constraint failed: '),
      {
        cause: err,
      },
    );
  }
  return err;
}
