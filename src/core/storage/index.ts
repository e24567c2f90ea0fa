import { join } from 'node:path';
import type { StorageConfig } from '../config/types.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export { PostgresStore } from './postgres.ts';
export { SqliteStore } from './sqlite.ts';
export type { Engine, Migration, MigrationReport, Queryable, Row, SqlValue, Store } from './types.ts';

const NAMESPACE = /^[a-z][a-z0-9_]{0,40}$/;

/**
 * Opens the store of one component on the configured engine.
 *
 * @example
 * const store = openStore(config.storage, { home: config.home, namespace: 'audit' });
 * await store.migrate(AUDIT_MIGRATIONS);
 */
export function openStore(storage: StorageConfig, options: { home: string; namespace: string }): Store {
  if (!NAMESPACE.test(options.namespace)) {
    throw new TypeError(`store namespace must match ${NAMESPACE}: got ${JSON.stringify(options.namespace)}`);
  }
  if (storage.engine === 'postgres') {
    return new PostgresStore({ ...storage.postgres, namespace: options.namespace });
  }
  return new SqliteStore({ directory: join(options.home, 'data'), namespace: options.namespace });
}
