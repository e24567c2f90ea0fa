/**
 * The mesh's hot paths, each against a baseline measured in the same run:
 *   1. added latency of one sidecar hop (client sidecar -> mTLS -> server sidecar -> app) against plain
 *      HTTP to the same app process, p50/p99 at a fixed 1,000 req/s (open loop, 16 connections, the C
 *      generator of bench/tools/openloop.c);
 *   2. SVID issuance (CSR check + sign + record), against the 5 ms goal and a leaf with a fresh key;
 *   3. mTLS handshakes per second on the sidecar against server-auth TLS handshakes on a plain listener.
 * The app and each sidecar run as their own processes, started the way `bulwark sidecar` runs.
 * Run: flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/mesh/hop.bench.ts
 */
import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { CertificateAuthority } from '../../src/authority/ca/certificate-authority.ts';
import { KeySeal } from '../../src/authority/ca/key-seal.ts';
import { adminTokenPath } from '../../src/authority/index.ts';
import { AUTHORITY_MIGRATIONS } from '../../src/authority/store/migrations.ts';
import { openStore, type Store, systemClock } from '../../src/core/index.ts';
import { AuthorityClient } from '../../src/core/mtls/authority-client.ts';
import { createWorkloadKey } from '../../src/core/mtls/workload-key.ts';
import { SqliteStore } from '../../src/core/storage/index.ts';
import { MESH_POLICY } from '../../test/sdk/mesh-fixtures.ts';
import { openLoop } from '../tools/openloop.ts';

const NODE = 'node_modules/.bin/node';
const RATE = 1000;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const children: ChildProcess[] = [];

function start(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(NODE, args, { env });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out);
    });
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${out}`)));
  });
}

const ms = (n: number) => `${n.toFixed(3)} ms`;
const quantiles = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), mean: values.reduce((a, b) => a + b, 0) / values.length };
};

async function handshakesPerSecond(
  port: number,
  options: { cert?: string; key?: string },
  seconds = 3,
): Promise<number> {
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
          done++;
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return done / seconds;
}

// The authority runs in its own process (as under `bulwark up`), so its SQLite writes never pause the
// load generator's event loop.
const host = JSON.parse(await start(['bench/mesh/authority-host.ts'], { ...process.env })) as {
  url: string;
  home: string;
};
const ca = readFileSync(join(host.home, 'tls', 'ca.crt'), 'utf8');
const adminToken = readFileSync(adminTokenPath(host.home), 'utf8').trim();
const adminAgent = new Agent({ connect: { ca } });
const authority = {
  url: host.url,
  home: host.home,
  joinToken: async (service: string) => {
    const res = await request(`${host.url}/v1/join-tokens`, {
      method: 'POST',
      dispatcher: adminAgent,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
    });
    return ((await res.body.json()) as { token: string }).token;
  },
  client: () => new AuthorityClient({ url: host.url, authorityCa: ca }),
};
try {
  const env = { ...process.env, BULWARK_HOME: authority.home, BULWARK_LOG__LEVEL: 'warn' };
  const caFile = join(authority.home, 'tls', 'ca.crt');
  const policyFile = join(authority.home, 'mesh.cedar');
  writeFileSync(policyFile, MESH_POLICY);
  const app = /http=(\d+) tls=(\d+)/.exec(await start(['bench/mesh/echo-app.ts', authority.home], env))!;
  const sidecar = async (service: string, extra: string[]) =>
    start(
      [
        'test/authority/cli-host.ts',
        'sidecar',
        '--port',
        '0',
        '--admin-port',
        '-1',
        '--policy',
        policyFile,
        '--authority-url',
        authority.url,
        '--authority-ca',
        caFile,
        '--join-token',
        await authority.joinToken(service),
        ...extra,
      ],
      env,
    );
  const orders = await sidecar('orders', ['--app-port', app[1]!]);
  const inbound = Number(/inbound mTLS on 127\.0\.0\.1:(\d+)/.exec(orders)![1]);
  const frontend = await sidecar('frontend', ['--app-port', '9', '--outbound', 'orders=0']);
  const outbound = Number(/orders on 127\.0\.0\.1:(\d+)/.exec(frontend)![1]);

  // 1. Latency of one hop at a fixed rate.
  const loadBefore = loadavg();
  // Each measured window right after its own 2 s warm-up at the same rate, on the same connections (open,
  // code hot).
  const base = await openLoop(`http://127.0.0.1:${app[1]}/`, RATE, SECONDS, 16, 2);
  const mesh = await openLoop(`http://127.0.0.1:${outbound}/`, RATE, SECONDS, 16, 2);
  // Control: two bare Node HTTP proxies, each its own process, where the sidecars stand (no TLS, no policy).
  const proxyPort = async (upstream: number) =>
    Number(/proxy=(\d+)/.exec(await start(['bench/mesh/plain-proxy.ts', String(upstream)], env))![1]);
  const chain = await proxyPort(await proxyPort(Number(app[1])));
  const proxies = await openLoop(`http://127.0.0.1:${chain}/`, RATE, SECONDS, 16, 2);
  console.log(
    `machine load average before the run: ${loadBefore.map((l) => l.toFixed(2)).join(' ')} (2 cores, shared)`,
  );
  console.log(`\nOne sidecar hop at ${RATE} req/s for ${SECONDS} s, 16 connections (open loop):`);
  console.log(
    `  plain HTTP to the app    p50 ${ms(base.p50)}  p90 ${ms(base.p90)}  p99 ${ms(base.p99)}  p99.9 ${ms(base.p999)}  failed ${base.failed}/${base.sent}`,
  );
  console.log(
    `  through both sidecars    p50 ${ms(mesh.p50)}  p90 ${ms(mesh.p90)}  p99 ${ms(mesh.p99)}  p99.9 ${ms(mesh.p999)}  failed ${mesh.failed}/${mesh.sent}`,
  );
  console.log(
    `  two bare Node proxies    p50 ${ms(proxies.p50)}  p90 ${ms(proxies.p90)}  p99 ${ms(proxies.p99)}  p99.9 ${ms(proxies.p999)}  failed ${proxies.failed}/${proxies.sent}  (control: two relaying processes, no TLS/policy)`,
  );
  console.log(
    `  added                    p50 ${ms(mesh.p50 - base.p50)}  p99 ${ms(mesh.p99 - base.p99)}  (goal: p99 <= 1 ms)`,
  );
  console.log(
    `  added by the bare proxies p50 ${ms(proxies.p50 - base.p50)}  p99 ${ms(proxies.p99 - base.p99)}`,
  );
  console.log(
    `  ratio mesh/plain         p50 ${(mesh.p50 / base.p50).toFixed(2)}x  p99 ${(mesh.p99 / base.p99).toFixed(2)}x`,
  );

  // 2. Issuance, in process, with CSRs made beforehand (the workload's part): on the durable SQLite store
  // (synchronous=FULL, one fsync per SVID record) and on an in-memory one (the CPU part alone).
  const issuance = async (store: Store, label: string) => {
    await store.migrate(AUTHORITY_MIGRATIONS);
    const ca = new CertificateAuthority({
      store,
      seal: KeySeal.open(null, join(authority.home, 'issuebench.key')),
      clock: systemClock,
      home: authority.home,
      trustDomain: 'bulwark.local',
      svidTtlMs: 3_600_000,
      intermediateTtlMs: 30 * 86_400_000,
    });
    await ca.init();
    const csrs = await Promise.all(Array.from({ length: 220 }, () => createWorkloadKey()));
    for (const k of csrs.slice(0, 20)) await ca.issue('spiffe://bulwark.local/service/warm', k.csrPem);
    const times: number[] = [];
    for (const k of csrs.slice(20)) {
      const t = performance.now();
      await ca.issue('spiffe://bulwark.local/service/bench', k.csrPem);
      times.push(performance.now() - t);
    }
    await store.close();
    const q = quantiles(times);
    console.log(
      `  ${label.padEnd(34)} p50 ${ms(q.p50)}  p99 ${ms(q.p99)}  mean ${ms(q.mean)}  (goal < 5 ms)`,
    );
  };
  console.log('\nSVID issuance (verify CSR + sign + record), 200 runs each:');
  await issuance(
    openStore(
      { engine: 'sqlite', postgres: { url: '', poolSize: 1, ssl: false } },
      { home: authority.home, namespace: 'issuebench' },
    ),
    'durable SQLite store (fsync)',
  );
  await issuance(
    new SqliteStore({ directory: ':memory:', namespace: 'issuemem' }),
    'in-memory store (CPU only)',
  );
  const fresh: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    await createWorkloadKey();
    fresh.push(performance.now() - t);
  }
  const f = quantiles(fresh);
  console.log(`  workload side: key pair + CSR       p50 ${ms(f.p50)}  p99 ${ms(f.p99)}`);

  // 3. Handshakes per second.
  const key = await createWorkloadKey();
  const client = authority.client();
  const svid = await client.attest(await authority.joinToken('frontend'), key.csrPem);
  await client.close();
  const plain = await handshakesPerSecond(Number(app[2]), {});
  const mutual = await handshakesPerSecond(inbound, { cert: svid.certChain, key: key.privateKeyPem });
  console.log('\nTLS handshakes per second (8 concurrent clients, new connection each):');
  console.log(`  server-auth TLS (plain listener)         ${plain.toFixed(0)}/s`);
  console.log(
    `  mTLS + SVID check (sidecar inbound)      ${mutual.toFixed(0)}/s  (${(mutual / plain).toFixed(2)}x)`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
  await adminAgent.close();
}
process.exit(0);
