/**
 * Encryption throughput of `keys`, 256-byte values:
 * 1. in-process Transit.encrypt (one value per call, and batches of 1,000) beside raw node:crypto
 *    AES-256-GCM on the same values (the baseline: what the bare cipher costs on this machine);
 * 2. through the HTTPS API with batch input (1,000 values a request) beside the same values sent one
 *    request each.
 * Goals (issue 8): in-process >= 200,000/s; API batch >= 50,000 values/s.
 *
 *   flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/keys/encrypt.bench.ts
 */
import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import {
  buildConfigSchema,
  createLogger,
  loadConfig,
  openStore,
  runComponent,
  systemClock,
} from '../../src/core/index.ts';
import {
  createKeysComponent,
  KEYS_MIGRATIONS,
  Keyring,
  KeyStore,
  LocalKeyProvider,
  Transit,
} from '../../src/keys/index.ts';

const VALUE = randomBytes(256);
const CONTEXT = { tenant: 't1', field: 'note' };
const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));
const fmt = (n: number) => n.toLocaleString('en-US');

async function timed(work: () => Promise<number> | number, minMs = 1500): Promise<number> {
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) count += await work();
  return rate(count, performance.now() - start);
}

async function inProcess() {
  const home = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const store = openStore(
    { engine: 'sqlite', postgres: { url: '', poolSize: 1, ssl: false } },
    { home, namespace: 'keys' },
  );
  await store.migrate(KEYS_MIGRATIONS);
  const provider = new LocalKeyProvider('env', randomBytes(32), randomBytes);
  const keyring = new Keyring({
    store: new KeyStore(store),
    provider,
    clock: systemClock,
    random: randomBytes,
    cacheTtlMs: 2000,
  });
  await keyring.init();
  await keyring.create({ name: 'bench', type: 'aes256-gcm' });
  const transit = new Transit(keyring, randomBytes);
  const one = [{ plaintext: VALUE, context: CONTEXT }];
  const batch = Array.from({ length: 1000 }, () => ({ plaintext: VALUE, context: CONTEXT }));
  const key = createSecretKey(randomBytes(32));
  const aad = Buffer.from('[["field","note"],["tenant","t1"]]');
  const raw = () => {
    for (let i = 0; i < 1000; i++) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(aad);
      Buffer.concat([iv, c.update(VALUE), c.final(), c.getAuthTag()]).toString('base64url');
    }
    return 1000;
  };
  const single = async () => {
    for (let i = 0; i < 1000; i++) await transit.encrypt('bench', one);
    return 1000;
  };
  const batched = async () => (await transit.encrypt('bench', batch)).length;
  await timed(raw, 300);
  await timed(single, 300);
  await timed(batched, 300);
  const results = { raw: await timed(raw), single: await timed(single), batch: await timed(batched) };
  await store.close();
  return results;
}

async function throughApi() {
  const home = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const caller = 'spiffe://bulwark.bench/app';
  const env = {
    BULWARK_HOME: home,
    BULWARK_COMPONENTS__KEYS__MASTER__PROVIDER: 'env',
    BULWARK_COMPONENTS__KEYS__ADMINS: `[${caller}]`,
    BULWARK_SERVER__LIMITS__BODY_BYTES: String(4 * 1024 * 1024),
  };
  const definition = createKeysComponent({ env: { KEYS_MASTER_KEY: randomBytes(32).toString('base64') } });
  const config = loadConfig(
    buildConfigSchema([{ name: 'keys', defaultPort: 7303, properties: definition.configProperties }]),
    { env },
  );
  const logger = createLogger({
    level: 'info',
    component: 'keys',
    destination: new Writable({ write: (_c, _e, done) => done() }),
  });
  const running = await runComponent(definition, config, { port: 0, logger });
  const dispatcher = new Agent({
    connect: { ca: readFileSync(join(home, 'tls', 'ca.crt')) },
    connections: 8,
    pipelining: 1,
  });
  const post = async (path: string, body: unknown) => {
    const res = await request(`${running.url}${path}`, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bulwark-caller': caller },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`${res.statusCode} ${text}`);
    return text;
  };
  await post('/v1/keys', { name: 'bench', type: 'aes256-gcm', acl: { encrypt: [caller] } });
  const plaintext = VALUE.toString('base64');
  const batchBody = { batch: Array.from({ length: 1000 }, () => ({ plaintext, context: CONTEXT })) };
  const singleBody = { plaintext, context: CONTEXT };
  const concurrency = 4;
  const batched = async () => {
    await Promise.all(Array.from({ length: concurrency }, () => post('/v1/keys/bench/encrypt', batchBody)));
    return 1000 * concurrency;
  };
  const single = async () => {
    await Promise.all(Array.from({ length: 32 }, () => post('/v1/keys/bench/encrypt', singleBody)));
    return 32;
  };
  await timed(batched, 500);
  await timed(single, 500);
  const results = { batch: await timed(batched, 3000), single: await timed(single, 3000) };
  await dispatcher.close();
  await running.stop();
  return results;
}

const local = await inProcess();
console.log('in-process, 256-byte values, AES-256-GCM with context');
console.log(`  raw node:crypto (baseline)     ${fmt(local.raw).padStart(10)} /s`);
console.log(
  `  Transit.encrypt, 1 per call    ${fmt(local.single).padStart(10)} /s  (${(local.single / local.raw).toFixed(2)}x raw)`,
);
console.log(
  `  Transit.encrypt, batch 1000    ${fmt(local.batch).padStart(10)} /s  (${(local.batch / local.raw).toFixed(2)}x raw)  goal >= 200,000`,
);
const api = await throughApi();
console.log('HTTPS API, 256-byte values');
console.log(`  one request per value (32 in flight)  ${fmt(api.single).padStart(8)} values/s`);
console.log(`  batch of 1000 (4 in flight)           ${fmt(api.batch).padStart(8)} values/s  goal >= 50,000`);
console.log(`  batch / one-per-request                ${(api.batch / api.single).toFixed(1)}x`);
