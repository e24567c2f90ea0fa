/**
 * A running `keys` component for tests: real HTTPS on loopback port 0 with the local CA, a real store
 * (SQLite in a temp dir, or PostgreSQL `test` in a fresh schema dropped at the end), the `env` master-key
 * provider, an in-memory audit sink and a logger writing to memory (so tests can search every log line).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { Agent, request } from 'undici';
import {
  type BulwarkConfig,
  buildConfigSchema,
  createLogger,
  loadConfig,
  ManualClock,
  MemoryAuditSink,
  openStore,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { createKeysComponent, type KeysOverrides } from '../../src/keys/index.ts';
import { KeysClient } from '../../src/sdk/keys/index.ts';
import { TEST_PG_URL as PG_URL } from '../fixtures/config.ts';

export { PG_URL };
export const ADMIN = 'spiffe://bulwark.test/ops/admin';
export const ENGINES = ['sqlite', 'postgres'] as const;
export type EngineName = (typeof ENGINES)[number];

export interface KeysHarness {
  url: string;
  config: BulwarkConfig;
  audit: MemoryAuditSink;
  logs: string[];
  clock: ManualClock;
  masterKey: Buffer;
  call(
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    body?: unknown,
    caller?: string | null,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  engine?: EngineName;
  env?: Record<string, string>;
  overrides?: KeysOverrides;
  /** Reuse a data directory and master key (restart tests). */
  home?: string;
  masterKey?: Buffer;
  namespace?: string;
}

export async function startKeys(options: HarnessOptions = {}): Promise<KeysHarness> {
  const engine = options.engine ?? 'sqlite';
  const masterKey = options.masterKey ?? randomBytes(32);
  const env: Record<string, string> = {
    BULWARK_LOG__LEVEL: 'debug',
    BULWARK_COMPONENTS__KEYS__MASTER__PROVIDER: 'env',
    BULWARK_COMPONENTS__KEYS__ADMINS: `[${ADMIN}]`,
    BULWARK_COMPONENTS__KEYS__CACHE_TTL_MS: '0',
    ...(options.home ? { BULWARK_HOME: options.home } : {}),
    ...(engine === 'postgres'
      ? { BULWARK_STORAGE__ENGINE: 'postgres', BULWARK_STORAGE__POSTGRES__URL: PG_URL }
      : {}),
    ...options.env,
  };
  const definition = createKeysComponent({
    env: { KEYS_MASTER_KEY: masterKey.toString('base64') },
    ...options.overrides,
  });
  env['BULWARK_HOME'] ??= mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
  const config = loadConfig(
    buildConfigSchema([{ name: 'keys', defaultPort: 7303, properties: definition.configProperties }]),
    { env },
  );
  // PostgreSQL: one schema per harness, so parallel runs never share tables.
  const namespace = options.namespace ?? `keys_t${randomBytes(4).toString('hex')}`;
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    component: 'keys',
    destination: new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  });
  const audit = new MemoryAuditSink();
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const running: RunningComponent = await runComponent(
    {
      ...definition,
      create: (ctx) =>
        definition.create({
          ...ctx,
          openStore: () => openStore(ctx.config.storage, { home: ctx.config.home, namespace }),
        }),
    },
    config,
    { logger, clock, port: 0, audit },
  );
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(config.home, 'tls', 'ca.crt')) } });
  return {
    url: running.url,
    config,
    audit,
    logs,
    clock,
    masterKey,
    async call(method, path, body, caller = ADMIN) {
      const res = await request(`${running.url}${path}`, {
        dispatcher,
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(caller ? { 'x-bulwark-caller': caller } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.body.text();
      return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
    async stop() {
      await running.stop();
      await dispatcher.close();
      if (engine === 'postgres' && !options.namespace) await dropSchema(namespace);
    },
  };
}

export async function dropSchema(namespace: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS bulwark_${namespace} CASCADE`);
  } finally {
    await client.end();
  }
}

/** An SDK client of the harness's keys service calling as `caller` (by header: the harness runs alone). */
export function keysClient(h: KeysHarness, caller: string, url = h.url): KeysClient {
  return new KeysClient({ url, caller, ca: readFileSync(join(h.config.home, 'tls', 'ca.crt')) });
}

export const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
export const text = (base64: unknown) => Buffer.from(String(base64), 'base64').toString('utf8');

/** Keyring and transit in-process, on a store of the given engine, with a random source that records every secret it hands out. */
export async function inProcessKeys(engine: EngineName = 'sqlite', options: { cacheTtlMs?: number } = {}) {
  const { KeyStore, KEYS_MIGRATIONS, Keyring, LocalKeyProvider, Transit, TokenVault, SubjectKeys } =
    await import('../../src/keys/index.ts');
  const namespace = `keys_t${randomBytes(4).toString('hex')}`;
  const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
  const store = openStore(
    engine === 'postgres'
      ? { engine: 'postgres', postgres: { url: PG_URL, poolSize: 4, ssl: false } }
      : { engine: 'sqlite', postgres: { url: PG_URL, poolSize: 1, ssl: false } },
    { home, namespace },
  );
  await store.migrate(KEYS_MIGRATIONS);
  /** Every 32-byte value drawn: key material, to search logs and storage for. */
  const secrets: Buffer[] = [];
  const random = (size: number) => {
    const out = randomBytes(size);
    if (size === 32) secrets.push(Buffer.from(out));
    return out;
  };
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const masterKey = randomBytes(32);
  const provider = new LocalKeyProvider('env', masterKey, random);
  const keyStore = new KeyStore(store);
  const keyring = new Keyring({
    store: keyStore,
    provider,
    clock,
    random,
    cacheTtlMs: options.cacheTtlMs ?? 0,
  });
  await keyring.init();
  const transit = new Transit(keyring, random);
  return {
    store,
    keyStore,
    keyring,
    transit,
    provider,
    clock,
    random,
    secrets,
    masterKey,
    home,
    vault: new TokenVault(keyStore, transit, random, clock),
    subjects: new SubjectKeys(keyStore, provider, clock, random),
    async close() {
      await store.close();
      if (engine === 'postgres') await dropSchema(namespace);
    },
  };
}
