/**
 * Crash suite: the audit process is killed with SIGKILL in the middle of a stream of appends. Every record
 * it acknowledged must be there after the restart, and the whole log must verify.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { auditVerify, resolveTarget } from '../../src/cli/commands/audit.ts';
import { call, dropNamespace, type Engine, event, freshName, startAudit } from './fixtures/audit-server.ts';

const NODE = join(process.cwd(), 'node_modules', '.bin', 'node');
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

async function launch(
  engine: Engine,
  home: string,
  name: string,
  port = 0,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(NODE, ['test/audit/fixtures/run-audit.ts', engine, home, name, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`audit fixture exited with ${code}`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

for (const engine of ['sqlite', 'postgres'] as Engine[]) {
  describe(`crash suite on ${engine}`, () => {
    const name = freshName(engine);
    after(() => dropNamespace(engine, name));

    it('keeps every acknowledged record across a kill -9 during appends, and the log still verifies', async () => {
      const home = mkdtempSync(join(tmpdir(), 'bulwark-crash-'));
      let { child, url } = await launch(engine, home, name);
      const ca = readFileSync(join(home, 'tls', 'ca.crt'), 'utf8');
      const dispatcher = new Agent({ connect: { ca } });
      const acked = new Set<string>();
      let stop = false;
      const writer = async () => {
        while (!stop) {
          const records = Array.from({ length: 50 }, () => event());
          try {
            const res = await request(`${url}/audit/v1/records`, {
              method: 'POST',
              dispatcher,
              body: JSON.stringify({ records }),
              headers: { 'content-type': 'application/json' },
            });
            const text = await res.body.text();
            if (res.statusCode === 200) for (const r of records) acked.add(r['id'] as string);
            else if (!stop) assert.fail(`unexpected ${res.statusCode}: ${text}`);
          } catch {
            return; // the connection died with the process
          }
        }
      };
      const writers = [writer(), writer(), writer()];
      while (acked.size < 1500) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGKILL');
      await Promise.all(writers);
      stop = true;
      const before = acked.size;
      ({ child, url } = await launch(engine, home, name, Number(new URL(url).port)));
      const got = new Set<string>();
      for (let start = 0; ; start += 10000) {
        const res = await request(`${url}/audit/v1/entries?start=${start}&limit=10000`, { dispatcher });
        const text = await res.body.text();
        const lines = text.split('\n').filter(Boolean);
        for (const l of lines) got.add((JSON.parse(l.slice(l.indexOf(' ') + 1)) as { id: string }).id);
        if (lines.length < 10000) break;
      }
      const lost = [...acked].filter((id) => !got.has(id));
      assert.equal(lost.length, 0, `${lost.length} of ${before} acknowledged records were lost`);
      const report = await auditVerify(resolveTarget({ url }, home), sink, false);
      assert.equal(report.ok, true, JSON.stringify(report.failure));
      assert.ok(report.size >= before);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await dispatcher.close();
    });
  });
}

describe('a checkpoint row that could not be stored', () => {
  it('is stored once the database takes writes again (disk full), not skipped until the log grows', async () => {
    const f = await startAudit('sqlite', { settings: { checkpointIntervalMs: 20, anchorIntervalMs: 1 } });
    const append = async () => {
      const records = Array.from({ length: 10 }, () => event());
      assert.equal((await call(f, 'POST', '/audit/v1/records', { records })).status, 200);
      await new Promise((r) => setTimeout(r, 150));
      return records;
    };
    try {
      await append();
      const db = new DatabaseSync(join(f.home, 'data', 'audit.db'));
      // Stands for a full disk: the next checkpoint row (and only it) cannot be written.
      db.exec(
        "CREATE TRIGGER full_disk BEFORE INSERT ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'disk full'); END",
      );
      const records = await append();
      db.exec('DROP TRIGGER full_disk');
      db.close();
      await new Promise((r) => setTimeout(r, 150));
      const sizes = (await call(f, 'GET', '/audit/v1/checkpoints'))
        .json()
        .checkpoints.map((c: { size: number }) => c.size);
      assert.ok(sizes.includes(20), `checkpoint 20 is stored (${sizes})`);
      assert.equal((await call(f, 'GET', `/audit/v1/records/${records[5]!['id']}/proof`)).status, 200);
    } finally {
      await f.stop();
    }
  });
});
