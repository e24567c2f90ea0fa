/** Starts a real authority on loopback (SQLite in a temp dir, or PostgreSQL `test` in its own schema). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';
import { adminTokenPath, authorityComponent } from '../../src/authority/index.ts';
import {
  type BulwarkConfig,
  buildConfigSchema,
  type Clock,
  type ComponentDefinition,
  loadConfig,
  MemoryAuditSink,
  openStore,
  type Queryable,
  runComponent,
  type Store,
} from '../../src/core/index.ts';
import { AuthorityClient } from '../../src/core/mtls/authority-client.ts';
import { TEST_PG_URL as PG_URL } from '../fixtures/config.ts';

// biome-ignore lint/suspicious/noExplicitAny: test responses are read loosely, each test asserts the shape it needs
type Json = any;

export { PG_URL };

export interface TestAuthority {
  url: string;
  home: string;
  config: BulwarkConfig;
  /** PEM of the local root CA (what the authority's server certificate chains to). */
  ca: string;
  adminToken: string;
  audit: MemoryAuditSink;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }>;
  joinToken(service: string, ttlSeconds?: number): Promise<string>;
  client(): AuthorityClient;
  stop(): Promise<void>;
}

export function authorityConfigFor(
  engine: 'sqlite' | 'postgres',
  env: Record<string, string> = {},
  home = mkdtempSync(join(tmpdir(), 'bulwark-authority-')),
): BulwarkConfig {
  const schema = buildConfigSchema([
    { name: 'authority', defaultPort: 7305, properties: authorityComponent.configProperties },
  ]);
  return loadConfig(schema, {
    env: {
      BULWARK_HOME: home,
      BULWARK_LOG__LEVEL: 'silent',
      BULWARK_STORAGE__ENGINE: engine,
      BULWARK_STORAGE__POSTGRES__URL: PG_URL,
      ...env,
    },
  });
}

/** Runs the authority; on PostgreSQL under a unique schema that `stop()` drops. */
export async function startAuthority(
  engine: 'sqlite' | 'postgres',
  options: {
    env?: Record<string, string>;
    clock?: Clock;
    home?: string;
    /** Share a PostgreSQL schema with another instance (cluster mode); the first to start owns it. */
    namespace?: string;
    keepSchema?: boolean;
    /** Wraps the authority's store (e.g. {@link withLatency} to widen race windows like a remote database). */
    wrapStore?: (store: Store) => Store;
  } = {},
): Promise<TestAuthority> {
  const config = authorityConfigFor(engine, options.env, options.home);
  const namespace =
    options.namespace ??
    (engine === 'postgres' ? `authority_t${randomBytes(4).toString('hex')}` : 'authority');
  const named = { ...authorityComponent, name: 'authority' };
  const definition = options.wrapStore ? withStoreWrapper(named, options.wrapStore) : named;
  const audit = new MemoryAuditSink();
  const running = await runComponent(
    // A unique namespace per run on PostgreSQL: the store is opened under the component's name.
    engine === 'postgres' ? withNamespace(definition, namespace) : definition,
    config,
    { port: 0, audit, ...(options.clock ? { clock: options.clock } : {}) },
  );
  const ca = readFileSync(join(config.home, 'tls', 'ca.crt'), 'utf8');
  const adminToken = readFileSync(adminTokenPath(config.home), 'utf8').trim();
  const dispatcher = new Agent({ connect: { ca } });
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await request(`${running.url}${path}`, {
      method: method as 'GET',
      dispatcher,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
  };
  return {
    url: running.url,
    home: config.home,
    config,
    ca,
    adminToken,
    audit,
    admin,
    joinToken: async (service, ttlSeconds) => {
      const res = await admin('POST', '/v1/join-tokens', { service, ...(ttlSeconds ? { ttlSeconds } : {}) });
      if (res.status !== 201) throw new Error(`join token: ${res.status} ${JSON.stringify(res.json)}`);
      return res.json.token as string;
    },
    client: () => new AuthorityClient({ url: running.url, authorityCa: ca }),
    stop: async () => {
      await running.stop();
      await dispatcher.close();
      if (engine === 'postgres' && !options.keepSchema) await dropSchema(`bulwark_${namespace}`);
    },
  };
}

function withNamespace(definition: ComponentDefinition, namespace: string): ComponentDefinition {
  return {
    ...definition,
    create: (ctx) =>
      definition.create({
        ...ctx,
        openStore: () => openStore(ctx.config.storage, { home: ctx.config.home, namespace }),
      }),
  };
}

function withStoreWrapper(
  definition: ComponentDefinition,
  wrap: (store: Store) => Store,
): ComponentDefinition {
  return {
    ...definition,
    create: (ctx) => definition.create({ ...ctx, openStore: () => wrap(ctx.openStore()) }),
  };
}

/**
 * The same store, each statement answered `ms` later (as over a network): the async gaps between a check
 * and the write that depends on it become wide enough for a concurrent request to land in them.
 */
export function withLatency(store: Store, ms = 1): Store {
  const pause = () => new Promise((resolve) => setTimeout(resolve, ms));
  const slow = (q: Queryable): Queryable => ({
    query: async (sql, params) => {
      await pause();
      return q.query(sql, params);
    },
    execute: async (sql, params) => {
      await pause();
      return q.execute(sql, params);
    },
  });
  const direct = slow(store);
  return {
    engine: store.engine,
    namespace: store.namespace,
    query: direct.query,
    execute: direct.execute,
    transaction: (work) => store.transaction((tx) => work(slow(tx))),
    migrate: (migrations) => store.migrate(migrations),
    close: () => store.close(),
  };
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
