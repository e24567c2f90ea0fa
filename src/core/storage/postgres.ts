/**
 * The cluster engine: PostgreSQL through `pg`, one schema per component (`bulwark_<namespace>`) set as the
 * connection's search_path, so the same unqualified SQL runs on both engines and no component can reach
 * another's tables by accident.
 */
import pg from 'pg';
import { StorageError } from '../errors.ts';
import { runMigrations } from './migrate.ts';
import type { Migration, MigrationReport, Queryable, Row, SqlValue, Store } from './types.ts';

export interface PostgresOptions {
  url: string;
  namespace: string;
  poolSize: number;
  ssl: boolean;
}

// int8 (COUNT, BIGINT) arrives as text; keep numbers numbers while they are exact.
const INT8_OID = 20;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) {
      return (text: string) => {
        const n = Number(text);
        return Number.isSafeInteger(n) ? n : BigInt(text);
      };
    }
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  readonly namespace: string;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #url: URL;
  readonly #ready: Promise<void>;

  constructor(options: PostgresOptions) {
    this.namespace = options.namespace;
    this.schema = `bulwark_${options.namespace}`;
    this.#url = new URL(options.url);
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      ssl: options.ssl ? { rejectUnauthorized: true } : false,
      options: `-c search_path=${this.schema}`,
      connectionTimeoutMillis: 5000,
      types,
    });
    // An idle client that loses its server emits here; without a listener the process would crash.
    this.#pool.on('error', () => undefined);
    this.#ready = this.#connect();
  }

  async #connect(): Promise<void> {
    try {
      // Created only when missing: CREATE SCHEMA needs CREATE on the database even with IF NOT EXISTS, and a
      // service that logs in as an insert-only role (not the owner of its tables) has no such right.
      const { rowCount } = await this.#pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
        this.schema,
      ]);
      if (!rowCount) await this.#pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    } catch (cause) {
      throw this.#unavailable(cause);
    }
  }

  #unavailable(cause: unknown): StorageError {
    // Server and socket messages never echo the password; the URL would, so it is never printed.
    const { code, message } = cause as { code?: string; message?: string };
    const reason = [code, message].filter(Boolean).join(' ') || 'unknown';
    // Only host and port: the URL may carry a password.
    return new StorageError(
      'storage_unavailable',
      `PostgreSQL at ${this.#url.hostname}:${this.#url.port || 5432} is not answering (${reason}); start it or fix storage.postgres.url`,
      { cause },
    );
  }

  async query<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    await this.#ready;
    return runQuery<T>(this.#pool, sql, params);
  }

  async execute(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    await this.#ready;
    return runExecute(this.#pool, sql, params);
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    await this.#ready;
    {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (cause) {
        throw this.#unavailable(cause);
      }
      const tx: Queryable = {
        query: (sql, params = []) => runQuery(client, sql, params),
        execute: (sql, params = []) => runExecute(client, sql, params),
      };
      try {
        await client.query('BEGIN');
        const result = await work(tx);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
        throw err;
      }
    }
  }

  migrate(migrations: readonly Migration[]): Promise<MigrationReport> {
    return runMigrations(this, migrations, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext(?))', [this.schema]);
    });
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

async function runQuery<T extends Row>(
  client: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly SqlValue[],
): Promise<T[]> {
  try {
    return (await client.query(toPositional(sql), params as unknown[])).rows as T[];
  } catch (err) {
    throw translate(err);
  }
}

async function runExecute(
  client: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly SqlValue[],
): Promise<number> {
  try {
    return (await client.query(toPositional(sql), params as unknown[])).rowCount ?? 0;
  } catch (err) {
    throw translate(err);
  }
}

function translate(err: unknown): unknown {
  const e = err as { code?: string; message?: string; constraint?: string };
  // SQLSTATE class 23: integrity constraint violation.
  if (typeof e.code === 'string' && e.code.startsWith('23')) {
    return new StorageError(
      'storage_constraint',
      `constraint failed: ${e.constraint ?? e.message ?? e.code}`,
      { cause: err },
    );
  }
  if (e.code === 'ECONNREFUSED' || e.code === '57P01') {
    return new StorageError('storage_unavailable', 'PostgreSQL connection lost', { cause: err });
  }
  return err;
}

/** `?` placeholders to PostgreSQL's `$1, $2...`, leaving quoted text and identifiers alone. */
export function toPositional(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === '?') {
      out += `$${++n}`;
      continue;
    }
    out += ch;
  }
  return out;
}
