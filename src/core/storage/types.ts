/**
 * The one interface components keep their persistent state behind. SQL is written once with `?`
 * placeholders in the subset SQLite and PostgreSQL share; where they differ, a migration gives one text per
 * engine. Each component gets its own database (a SQLite file, or a PostgreSQL schema): a component never
 * reads another's tables (DESIGN.md, Boundaries).
 */

export type Engine = 'sqlite' | 'postgres';

/** A value that can be bound to a placeholder. Integers above 2^53 go as bigint. */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array;

export type Row = Record<string, unknown>;

export interface Queryable {
  /** Rows of a SELECT (or a statement with RETURNING). */
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement; resolves to the number of rows it changed. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface Store extends Queryable {
  readonly engine: Engine;
  /** The component this store belongs to (its file name or schema). */
  readonly namespace: string;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws. Inside it, use
   * `tx`: on SQLite (one connection) calls on the store itself wait until the transaction has ended.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Applies the migrations not applied yet, in version order, each in its own transaction. */
  migrate(migrations: readonly Migration[]): Promise<MigrationReport>;
  close(): Promise<void>;
}

export interface Migration {
  /** Strictly increasing, starting at 1; never renumbered once released. */
  version: number;
  name: string;
  /** One SQL text for both engines, or one per engine. Several statements may be separated by `;`. */
  sql: string | { sqlite: string; postgres: string };
}

export interface MigrationReport {
  applied: number[];
  current: number;
}
