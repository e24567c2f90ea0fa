/** Starts the real `policy` component on loopback HTTPS with SQLite or PostgreSQL, for the API tests. */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import {
  type BulwarkConfig,
  buildConfigSchema,
  loadConfig,
  MemoryAuditSink,
  openStore,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { policyComponent } from '../../src/policy/index.ts';
import { TEST_PG_URL as PG_URL } from '../fixtures/config.ts';

export { PG_URL };

export interface Harness {
  url: string;
  home: string;
  directory: string;
  audit: MemoryAuditSink;
  dispatcher: Agent;
  running: RunningComponent;
  call(
    path: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    json: () => Record<string, unknown>;
    text: string;
  }>;
  stop(): Promise<void>;
  /** Drops the PostgreSQL schema (no-op on SQLite). */
  cleanup(): Promise<void>;
}

export async function startPolicy(
  engine: 'sqlite' | 'postgres',
  options: { templates?: string[]; directory?: string; namespace?: string; home?: string } = {},
): Promise<Harness> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'bulwark-policy-'));
  const directory = options.directory ?? join(home, 'policies');
  mkdirSync(directory, { recursive: true });
  for (const t of options.templates ?? []) {
    cpSync(
      new URL(`../../src/policy/templates/${t}/policy.cedar`, import.meta.url),
      join(directory, `${t}.cedar`),
    );
  }
  const first = options.templates?.[0];
  if (first)
    cpSync(
      new URL(`../../src/policy/templates/${first}/entities.json`, import.meta.url),
      join(directory, 'entities.json'),
    );
  const namespace = options.namespace ?? `policy_t${randomBytes(4).toString('hex')}`;
  const definition = { ...policyComponent, name: namespace };
  const base = loadConfig(buildConfigSchema([]), {
    env: { BULWARK_HOME: home, BULWARK_LOG__LEVEL: 'silent' },
  });
  const config: BulwarkConfig = {
    ...base,
    storage: { engine, postgres: { url: PG_URL, poolSize: 4, ssl: false } },
    components: {
      ...base.components,
      [namespace]: {
        enabled: true,
        port: 0,
        directory,
        reloadIntervalMs: 0,
        cacheSize: 1000,
        decisionLog: { allowSampleRate: 0 },
      } as BulwarkConfig['components'][string],
    },
  };
  const audit = new MemoryAuditSink();
  const running = await runComponent(definition, config, { port: 0, audit });
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(home, 'tls', 'ca.crt')) } });
  const call: Harness['call'] = async (path, init = {}) => {
    const res = await request(`${running.url}${path}`, {
      dispatcher,
      method: (init.method ?? 'GET') as 'GET',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      headers: {
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.headers ?? {}),
      },
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
  };
  let stopped = false;
  return {
    url: running.url,
    home,
    directory,
    audit,
    dispatcher,
    running,
    call,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await running.stop();
    },
    cleanup: async () => {
      await dispatcher.close();
      if (engine !== 'postgres') return;
      const admin = openStore(config.storage, { home, namespace: `${namespace}_x` });
      await admin.execute(`DROP SCHEMA IF EXISTS bulwark_${namespace} CASCADE`).catch(() => undefined);
      await admin.execute(`DROP SCHEMA IF EXISTS bulwark_${namespace}_x CASCADE`).catch(() => undefined);
      await admin.close();
    },
  };
}

export function writePolicy(h: Harness, file: string, text: string): void {
  writeFileSync(join(h.directory, file), text);
}
