/**
 * Audit log benchmarks (run under `flock /tmp/bulwark-bench.lock`):
 *  1. durable appends through the HTTPS ingest API, batches of 1,000 over loopback, audit in its own
 *     process; ack-to-checkpoint latency measured by polling the checkpoint URL;
 *  2. baseline: the same rows inserted into plain SQLite (WAL, synchronous=FULL, one transaction per 1,000
 *     rows, no hashing, no HTTP), printed as a ratio; and the Node floor (floor-server.ts): the same HTTPS
 *     batches parsed, hashed and appended to a file with fsync, nothing else;
 *  3. `verify` of the whole appended log over HTTPS;
 *  4. inclusion proofs in a tile tree of AUDIT_BENCH_PROOF_SIZE leaves (default 10,000,000) on SQLite.
 * Usage: node_modules/.bin/node bench/audit/append.bench.ts [records=1000000]
 * AUDIT_BENCH_INGEST_ONLY=1 runs only (1) and prints its rate and CPU per record, for A/B runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { Agent, Pool, request } from 'undici';
import { TileTree } from '../../src/audit/log/tile-tree.ts';
import { httpLogSource } from '../../src/audit/verifier/http-log-source.ts';
import { verifyLog } from '../../src/audit/verifier/log-verifier.ts';
import { parseVerifierKey } from '../../src/audit/verifier/signed-note.ts';
import { leafHash } from '../../src/audit/verifier/tree-hash.ts';
import { uuidV7Generator } from '../../src/core/audit-client/index.ts';
import { openStore } from '../../src/core/index.ts';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const BATCH = 1000;
const CONCURRENCY = Number(process.env['AUDIT_BENCH_CONCURRENCY'] ?? 8);
const PROOF_SIZE = Number(process.env['AUDIT_BENCH_PROOF_SIZE'] ?? 10_000_000);
const NODE = join(process.cwd(), 'node_modules', '.bin', 'node');

function makeBatch(n: number): Record<string, unknown>[] {
  const now = new Date().toISOString();
  const nextId = uuidV7Generator();
  return Array.from({ length: n }, (_, i) => ({
    id: nextId(),
    time: now,
    actor: { type: 'user', id: `user-${i % 97}` },
    action: 'identity.login',
    target: { type: 'account', id: `acct-${i % 13}` },
    outcome: i % 10 === 0 ? 'failure' : 'success',
    source: { component: 'identity', ip: '192.0.2.10' },
    requestId: `req-${i}`,
    category: 'security',
    details: { method: 'password', mfa: true },
  }));
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;

/** User + system CPU seconds of another process (Linux /proc; clock ticks are 100 Hz). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function launch(home: string): Promise<{ child: ChildProcess; url: string }> {
  // AUDIT_BENCH_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) goes to the audit process.
  const extra = process.env['AUDIT_BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
  const child = spawn(
    NODE,
    [...extra, 'test/audit/fixtures/run-audit.ts', 'sqlite', home, 'audit', '0', '200'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  );
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

/**
 * The client side of an ingest run: TOTAL records in batches of BATCH, CONCURRENCY in flight, against
 * `url`; resolves with when each batch was acknowledged and up to which index.
 */
async function drive(url: string, ca: string, total: number): Promise<{ at: number; upTo: number }[]> {
  const pool = new Pool(url, { connect: { ca }, connections: CONCURRENCY, pipelining: 1 });
  // The client must not be the bottleneck on a 2-core machine: one template, a fresh id prefix per batch.
  const template = JSON.stringify({
    records: makeBatch(BATCH).map((r, i) => ({ ...r, id: `@@-${String(i).padStart(4, '0')}` })),
  });
  const nextId = uuidV7Generator();
  const acks: { at: number; upTo: number }[] = [];
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      sent += BATCH;
      // Ids as the audit client makes them: UUIDv7, time-ordered.
      const body = template.replaceAll('@@', nextId());
      const res = await pool.request({
        path: '/audit/v1/records',
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      const reply = (await res.body.json()) as { results: { index: number }[] };
      if (res.statusCode !== 200) throw new Error(`ingest answered ${res.statusCode}`);
      const upTo = Math.max(...reply.results.map((r) => r.index));
      // Acks resolve in any order; the poller walks them sorted by index.
      acks.push({ at: Date.now(), upTo });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await pool.close();
  return acks;
}

/**
 * The floor: the least a Node server on this machine does for the same traffic (HTTPS, the same batches,
 * JSON parsing, one SHA-256 leaf hash per record, an append-only file written and fsynced per batch
 * before the answer). No validation, no tree, no index: what 100,000 records/s would ask of Node alone.
 */
async function benchFloor(home: string) {
  const child = spawn(NODE, ['bench/audit/floor-server.ts', home], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  );
  const { url } = JSON.parse(line) as { url: string };
  const ca = readFileSync(join(home, 'tls', 'ca.crt'), 'utf8');
  const n = Math.min(TOTAL, 300_000);
  const cpuBefore = { client: process.cpuUsage(), server: processCpuSeconds(child.pid!) };
  const started = performance.now();
  await drive(url, ca, n);
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(cpuBefore.client);
  const cpu = {
    client: (client.user + client.system) / 1e6,
    server: processCpuSeconds(child.pid!) - cpuBefore.server,
  };
  child.kill('SIGTERM');
  return { rate: n / seconds, seconds, cpu };
}

async function benchIngest(home: string) {
  const { child, url } = await launch(home);
  const ca = readFileSync(join(home, 'tls', 'ca.crt'), 'utf8');
  const agent = new Agent({ connect: { ca } });
  const cpuBefore = { client: process.cpuUsage(), audit: processCpuSeconds(child.pid!) };
  const started = performance.now();
  const acks = await drive(url, ca, TOTAL);
  const seconds = (performance.now() - started) / 1000;
  const clientUsage = process.cpuUsage(cpuBefore.client);
  if (process.env['AUDIT_BENCH_THREADS']) {
    // Per-thread CPU of the audit process (user, system seconds), to see where the time goes.
    const { readdirSync } = await import('node:fs');
    for (const t of readdirSync(`/proc/${child.pid}/task`)) {
      const stat = readFileSync(`/proc/${child.pid}/task/${t}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.indexOf(')'));
      const f = stat.split(') ')[1]!.split(' ');
      console.log(`  thread ${name}: user ${Number(f[11]) / 100} s, system ${Number(f[12]) / 100} s`);
    }
  }
  const cpu = {
    client: (clientUsage.user + clientUsage.system) / 1e6,
    audit: processCpuSeconds(child.pid!) - cpuBefore.audit,
  };
  await new Promise((r) => setTimeout(r, 1500));
  // Ack-to-checkpoint from the server's record of when each checkpoint was signed (same machine clock), so
  // the time a poll request would wait behind ingest traffic is not counted.
  const signed: { size: number; at: number }[] = [];
  for (let after = 0; ; ) {
    const res = await request(`${url}/audit/v1/checkpoints?after=${after}&limit=10000`, {
      dispatcher: agent,
    });
    const page = (await res.body.json()) as { checkpoints: { size: number; created: string }[] };
    for (const c of page.checkpoints) signed.push({ size: c.size, at: Date.parse(c.created) });
    if (page.checkpoints.length < 10000) break;
    after = page.checkpoints.at(-1)!.size;
  }
  const latencies = acks.map((a) =>
    Math.max(0, (signed.find((c) => c.size > a.upTo)?.at ?? Number.POSITIVE_INFINITY) - a.at),
  );
  await agent.close();
  return {
    child,
    url,
    ca,
    cpu,
    rate: TOTAL / seconds,
    seconds,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
  };
}

function benchBaseline(dir: string) {
  const db = new DatabaseSync(join(dir, 'baseline.db'));
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
  db.exec(
    'CREATE TABLE r (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time TEXT NOT NULL, category TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, component TEXT, body TEXT NOT NULL); CREATE INDEX r_time ON r (time); CREATE INDEX r_actor ON r (actor); CREATE INDEX r_action ON r (action);',
  );
  const rows = 200;
  const stmt = db.prepare(`INSERT INTO r VALUES ${Array(rows).fill('(?,?,?,?,?,?,?,?,?)').join(',')}`);
  const n = Math.min(TOTAL, 300_000);
  const started = performance.now();
  let idx = 0;
  for (let b = 0; b < n / BATCH; b++) {
    const batch = makeBatch(BATCH);
    db.exec('BEGIN');
    for (let i = 0; i < BATCH; i += rows) {
      const params: (string | number)[] = [];
      for (const r of batch.slice(i, i + rows)) {
        const a = r['actor'] as { id: string };
        params.push(
          idx++,
          r['id'] as string,
          r['time'] as string,
          'security',
          a.id,
          'identity.login',
          r['outcome'] as string,
          'identity',
          JSON.stringify(r),
        );
      }
      stmt.run(...params);
    }
    db.exec('COMMIT');
  }
  const rate = n / ((performance.now() - started) / 1000);
  db.close();
  return rate;
}

async function benchVerify(url: string, ca: string, home: string, pid: number) {
  const source = httpLogSource(url, { ca });
  const cpuBefore = { client: process.cpuUsage(), audit: processCpuSeconds(pid) };
  const started = performance.now();
  const report = await verifyLog(source, {
    logKey: parseVerifierKey(readFileSync(join(home, 'audit', 'log.vkey'), 'utf8')),
  });
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(cpuBefore.client);
  const cpu = {
    client: (client.user + client.system) / 1e6,
    audit: processCpuSeconds(pid) - cpuBefore.audit,
  };
  await source.close();
  return { ok: report.ok, size: report.size, seconds, cpu };
}

async function benchProofs(dir: string) {
  const store = openStore(
    { engine: 'sqlite', postgres: { url: '', poolSize: 1, ssl: false } },
    { home: dir, namespace: 'proofbench' },
  );
  await store.execute(
    'CREATE TABLE tile (level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (level, idx))',
  );
  const read = async (level: number, index: number) =>
    (
      await store.query<{ hashes: Uint8Array }>('SELECT hashes FROM tile WHERE level = ? AND idx = ?', [
        level,
        index,
      ])
    )[0]?.hashes;
  let tree = await TileTree.load(0, read, async () => []);
  const built = performance.now();
  const chunk = 1 << 16;
  for (let at = 0; at < PROOF_SIZE; at += chunk) {
    const n = Math.min(chunk, PROOF_SIZE - at);
    const leaves = Array.from({ length: n }, (_, i) => leafHash(`{"index":${at + i}}`));
    const step = tree.prepare(leaves);
    await store.transaction(async (tx) => {
      for (const t of step.tiles)
        await tx.execute('INSERT INTO tile VALUES (?, ?, ?)', [t.level, t.index, t.hashes]);
    });
    step.commit();
  }
  const buildSeconds = (performance.now() - built) / 1000;
  // A fresh tree: empty tile cache, as after a restart (cold reads from SQLite).
  tree = await TileTree.load(PROOF_SIZE, read, async (start) =>
    Array.from({ length: PROOF_SIZE - start }, (_, i) => leafHash(`{"index":${start + i}}`)),
  );
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const index = Math.floor(Math.random() * PROOF_SIZE);
    const t = performance.now();
    await tree.inclusion(index, PROOF_SIZE);
    times.push(performance.now() - t);
  }
  await store.close();
  return { buildSeconds, mean: times.reduce((a, b) => a + b, 0) / times.length, p99: pct(times, 99) };
}

const dir = mkdtempSync(join(tmpdir(), 'bulwark-audit-bench-'));
try {
  const ingest = await benchIngest(dir);
  if (process.env['AUDIT_BENCH_INGEST_ONLY']) {
    // For A/B runs of the append path: the ingest lines only, nothing else run.
    ingest.child.kill('SIGTERM');
    const perRecord = ((ingest.cpu.audit * 1e6) / TOTAL).toFixed(1);
    console.log(
      `audit ingest: ${Math.round(ingest.rate)} records/s, audit CPU ${perRecord} us/record, client ${((ingest.cpu.client * 1e6) / TOTAL).toFixed(1)} us/record, ack -> checkpoint p99 ${ingest.p99.toFixed(0)} ms`,
    );
    process.exit(0);
  }
  const baseline = benchBaseline(dir);
  const floor = await benchFloor(dir);
  const verify = await benchVerify(ingest.url, ingest.ca, dir, ingest.child.pid!);
  ingest.child.kill('SIGTERM');
  const proofs = await benchProofs(dir);
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `audit ingest (HTTPS, batches of ${BATCH}, ${CONCURRENCY} in flight): ${f(ingest.rate)} records/s over ${f(TOTAL)} records`,
  );
  console.log(
    `  CPU during ingest: audit process ${ingest.cpu.audit.toFixed(1)} s, bench client ${ingest.cpu.client.toFixed(1)} s, over ${ingest.seconds.toFixed(1)} s (load average ${loadavg()[0]!.toFixed(2)} at the end)`,
  );
  console.log(`baseline plain SQLite inserts (same rows, no hashing, no HTTP):  ${f(baseline)} records/s`);
  console.log(`ratio audit / baseline: ${(ingest.rate / baseline).toFixed(2)}`);
  console.log(
    `Node floor (HTTPS, parse, SHA-256 per record, append + fsync, group commit; no validation, no tree): ${f(floor.rate)} records/s over ${f(Math.min(TOTAL, 300_000))} (server CPU ${floor.cpu.server.toFixed(1)} s, client ${floor.cpu.client.toFixed(1)} s, over ${floor.seconds.toFixed(1)} s); ratio audit / floor: ${(ingest.rate / floor.rate).toFixed(2)}`,
  );
  console.log(`ack -> signed checkpoint: p50 ${ingest.p50.toFixed(0)} ms, p99 ${ingest.p99.toFixed(0)} ms`);
  console.log(
    `verify ${f(verify.size)} records over HTTPS: ${verify.seconds.toFixed(1)} s (${verify.ok ? 'ok' : 'FAILED'})`,
  );
  console.log(
    `  CPU during verify: audit process ${verify.cpu.audit.toFixed(1)} s, verifier ${verify.cpu.client.toFixed(1)} s`,
  );
  console.log(
    `inclusion proof in a ${f(PROOF_SIZE)}-leaf tile tree on SQLite (cold cache): mean ${(proofs.mean * 1000).toFixed(0)} us, p99 ${(proofs.p99 * 1000).toFixed(0)} us (tree built in ${proofs.buildSeconds.toFixed(1)} s)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
