/**
 * Anchors (checkpoints exported for WORM storage) from the failure side: a crash or power loss while an
 * anchor is written, and files planted in the anchor directory.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditVerify, resolveTarget } from '../../src/cli/commands/audit.ts';
import { type AuditFixture, call, event, startAudit } from './fixtures/audit-server.ts';

const SETTINGS = { checkpointIntervalMs: 20, anchorIntervalMs: 1 };
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

async function fill(f: AuditFixture): Promise<void> {
  const res = await call(f, 'POST', '/audit/v1/records', {
    records: Array.from({ length: 100 }, () => event()),
  });
  assert.equal(res.status, 200);
  await new Promise((r) => setTimeout(r, 60));
}

const anchorOf = (f: AuditFixture, size: number) =>
  join(f.home, 'audit', 'anchor', `checkpoint-${String(size).padStart(12, '0')}`);

describe('anchors', () => {
  it('replaces a torn anchor left by a crash, so verify does not fail on it for ever', async () => {
    let f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f);
    await f.stop();
    const path = anchorOf(f, 100);
    const note = readFileSync(path, 'utf8');
    // A crash between creating the file and writing it (or a power loss before the data reached the disk)
    // leaves the name with nothing, or a prefix, in it.
    rmSync(path);
    writeFileSync(path, note.slice(0, 10), { mode: 0o444 });
    f = await f.restart();
    // An honest crash, not tampering: the restart still signs (a torn anchor is not a disagreeing one).
    const ready = (await call(f, 'GET', '/readyz')).status;
    await f.stop(); // the restart anchors size 100 again
    assert.equal(ready, 200, 'log-integrity stays true');
    assert.equal(readFileSync(path, 'utf8'), note);
    assert.deepEqual(
      readdirSync(join(f.home, 'audit', 'anchor')).filter((n) => !n.startsWith('checkpoint-')),
      [],
      'no temporary file is left behind',
    );
    f = await f.restart();
    const report = await auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
    assert.equal(report.ok, true, report.failure?.message);
    await f.stop();
  });

  it('never writes through, nor replaces, a symlink planted under an anchor name', async () => {
    let f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f);
    await f.stop();
    const path = anchorOf(f, 100);
    const outside = join(mkdtempSync(join(tmpdir(), 'bulwark-anchor-')), 'target');
    writeFileSync(outside, 'not an anchor');
    rmSync(path);
    symlinkSync(outside, path);
    f = await f.restart();
    await f.stop();
    assert.equal(readFileSync(outside, 'utf8'), 'not an anchor');
    assert.equal(lstatSync(path).isSymbolicLink(), true, 'a foreign entry is reported, not replaced');
  });
});

describe('anchors read by verify', () => {
  it('reads only regular files: a planted directory, FIFO or symlink neither crashes nor blocks it', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    try {
      await fill(f);
      const dir = join(f.home, 'audit', 'anchor');
      mkdirSync(join(dir, 'checkpoint-000000000997'));
      // A FIFO nobody writes blocked readFileSync, and the whole CLI with it, for ever; /dev/zero never ends.
      execFileSync('mkfifo', [join(dir, 'checkpoint-000000000998')]);
      symlinkSync('/dev/zero', join(dir, 'checkpoint-000000000999'));
      const report = await auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
      assert.equal(report.ok, true, report.failure?.message);
    } finally {
      await f.stop();
    }
  });
});

describe('anchors and the clock', () => {
  it('keeps anchoring after the clock is stepped back', async () => {
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const f = await startAudit('sqlite', {
      settings: { checkpointIntervalMs: 20, anchorIntervalMs: 100 },
      clock,
    });
    try {
      const append = async () => {
        const time = new Date(clock.now()).toISOString();
        const res = await call(f, 'POST', '/audit/v1/records', {
          records: Array.from({ length: 10 }, () => event({ time })),
        });
        assert.equal(res.status, 200);
        await new Promise((r) => setTimeout(r, 400));
      };
      await append();
      assert.ok(existsSync(anchorOf(f, 10)), 'anchored before the step');
      offset = -86_400_000; // NTP steps the clock back a day
      await append();
      await append();
      const size = (await call(f, 'GET', '/audit/v1/checkpoint')).text.split('\n')[1];
      assert.equal(size, '30');
      assert.ok(existsSync(anchorOf(f, 30)), 'the newest checkpoint is anchored within anchorIntervalMs');
    } finally {
      await f.stop();
    }
  });
});
