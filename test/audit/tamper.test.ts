/**
 * Tamper suite: an attacker with write access to the database (triggers dropped) changes the log in each
 * way the issue lists; `verify` (over HTTPS, with the pinned log key and the WORM anchors) must catch each
 * one and name where.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { signCheckpoint } from '../../src/audit/verifier/checkpoint.ts';
import { httpLogSource } from '../../src/audit/verifier/http-log-source.ts';
import { verifyLog } from '../../src/audit/verifier/log-verifier.ts';
import { parseSignerKey, parseVerifierKey, signerFromSeed } from '../../src/audit/verifier/signed-note.ts';
import { CompactRange, leafHash } from '../../src/audit/verifier/tree-hash.ts';
import { auditVerify, resolveTarget } from '../../src/cli/commands/audit.ts';
import { type AuditFixture, call, event, startAudit } from './fixtures/audit-server.ts';

const SETTINGS = { checkpointIntervalMs: 20, anchorIntervalMs: 1 };
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

async function fill(f: AuditFixture, batches: number, size = 100): Promise<void> {
  for (let b = 0; b < batches; b++) {
    assert.equal(
      (await call(f, 'POST', '/audit/v1/records', { records: Array.from({ length: size }, () => event()) }))
        .status,
      200,
    );
    await new Promise((r) => setTimeout(r, 60));
  }
}

async function verify(f: AuditFixture) {
  return auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
}

function attacker(f: AuditFixture): DatabaseSync {
  const db = new DatabaseSync(join(f.home, 'data', 'audit.db'));
  for (const t of [
    'audit_segment_no_update',
    'audit_segment_no_delete',
    'audit_tile_no_update',
    'audit_tile_no_delete',
    'audit_checkpoint_no_delete',
  ]) {
    db.exec(`DROP TRIGGER IF EXISTS ${t}`);
  }
  return db;
}

/** Rewrites the stored bodies of the segment holding `idx` (records are stored one segment per batch). */
function editSegment(db: DatabaseSync, idx: number, edit: (bodies: string[], at: number) => string[]): void {
  const seg = db
    .prepare(
      'SELECT first_idx, bodies FROM audit_segment WHERE first_idx <= ? ORDER BY first_idx DESC LIMIT 1',
    )
    .get(idx) as { first_idx: number; bodies: string };
  const bodies = edit(seg.bodies.split('\n'), idx - seg.first_idx);
  db.prepare('UPDATE audit_segment SET bodies = ?, n = ? WHERE first_idx = ?').run(
    bodies.join('\n'),
    bodies.length,
    seg.first_idx,
  );
}

describe('tamper suite (SQLite)', () => {
  it('verifies an untouched log', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    const report = await verify(f);
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.size, 300);
    assert.ok(report.checkpointsVerified >= 3);
    await f.stop();
  });

  it('the triggers refuse UPDATE and DELETE to anyone who does not drop them first', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 1, 10);
    const db = new DatabaseSync(join(f.home, 'data', 'audit.db'));
    assert.throws(() => db.exec("UPDATE audit_segment SET bodies = ''"), /append-only/);
    assert.throws(() => db.exec('DELETE FROM audit_segment'), /append-only/);
    assert.throws(() => db.exec("UPDATE audit_record_id SET id = 'x'"), /append-only/);
    assert.throws(() => db.exec('DELETE FROM audit_record_id'), /append-only/);
    assert.throws(() => db.exec('DELETE FROM audit_term'), /append-only/);
    assert.throws(() => db.exec('DELETE FROM audit_checkpoint'), /append-only/);
    assert.throws(() => db.exec('UPDATE audit_floor SET min_index = -1'), /only moves forward/);
    db.close();
    await f.stop();
  });

  it('finds the same failure with leaves hashed in a worker thread, in small pipelined batches', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    const logKey = parseVerifierKey(readFileSync(join(f.home, 'audit', 'log.vkey'), 'utf8'));
    const run = async () => {
      const source = httpLogSource(f.url, { ca: f.ca });
      try {
        return await verifyLog(source, { logKey, hashThread: true, batch: 64 });
      } finally {
        await source.close();
      }
    };
    const clean = await run();
    assert.deepEqual([clean.ok, clean.size], [true, 300], JSON.stringify(clean.failure));
    const db = attacker(f);
    editSegment(db, 123, (bodies, at) => {
      bodies[at] = bodies[at]!.replace('"identity.login"', '"identity.logim"');
      return bodies;
    });
    db.close();
    const r = await run();
    assert.deepEqual([r.ok, r.failure?.code, r.failure?.index], [false, 'leaf_mismatch', 123]);
    await f.stop();
  });

  it('detects one changed byte in a stored record and names its index', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    const db = attacker(f);
    editSegment(db, 123, (bodies, at) => {
      bodies[at] = bodies[at]!.replace('"identity.login"', '"identity.logim"');
      return bodies;
    });
    db.close();
    const r = await verify(f);
    assert.deepEqual([r.ok, r.failure?.code, r.failure?.index], [false, 'leaf_mismatch', 123]);
    await f.stop();
  });

  it('detects a deleted segment (batch) and names its first index', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    const db = attacker(f);
    db.exec('DELETE FROM audit_segment WHERE first_idx = 200');
    db.close();
    const r = await verify(f);
    assert.deepEqual([r.failure?.code, r.failure?.index], ['missing_record', 200]);
    await f.stop();
  });

  it('detects one record cut out of the middle of a segment and names its index', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    const db = attacker(f);
    editSegment(db, 240, (bodies, at) => bodies.filter((_, k) => k !== at));
    db.close();
    const r = await verify(f);
    assert.deepEqual([r.ok, r.failure?.index], [false, 240]);
    await f.stop();
  });

  it('detects two swapped records and names the first', async () => {
    const f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    const db = attacker(f);
    editSegment(db, 250, (bodies, at) => {
      [bodies[at], bodies[at + 1]] = [bodies[at + 1]!, bodies[at]!];
      return bodies;
    });
    db.close();
    const r = await verify(f);
    assert.deepEqual([r.failure?.code, r.failure?.index], ['record_mismatch', 250]);
    await f.stop();
  });

  it('detects a truncated tail, before and after a restart, naming the first missing index', async () => {
    let f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 4);
    const db = attacker(f);
    editSegment(db, 350, (bodies, at) => bodies.slice(0, at));
    db.close();
    assert.deepEqual([(await verify(f)).failure?.index], [350]);
    f = await f.restart();
    const r = await verify(f);
    assert.deepEqual([r.failure?.code, r.failure?.index], ['rolled_back', 350]);
    const ready = await call(f, 'GET', '/readyz');
    assert.equal(ready.status, 503, 'the service reports that its log no longer matches its checkpoint');
    await f.stop();
  });

  it('detects a tail rewritten, re-hashed and re-signed with another key', async () => {
    const f = await startAudit('sqlite', { settings: { ...SETTINGS, anchorIntervalMs: 0 } });
    await fill(f, 4);
    const db = attacker(f);
    const segments = db.prepare('SELECT first_idx, bodies FROM audit_segment ORDER BY first_idx').all() as {
      first_idx: number;
      bodies: string;
    }[];
    const range = new CompactRange();
    const leaves: Buffer[] = [];
    for (const seg of segments) {
      const bodies = seg.bodies.split('\n');
      if (seg.first_idx >= 300) {
        for (let k = 0; k < bodies.length; k++)
          bodies[k] = bodies[k]!.replace('"outcome":"failure"', '"outcome":"success"');
        db.prepare('UPDATE audit_segment SET bodies = ? WHERE first_idx = ?').run(
          bodies.join('\n'),
          seg.first_idx,
        );
      }
      for (const body of bodies) {
        leaves.push(leafHash(body));
        range.append(leaves.at(-1)!);
      }
    }
    // A thorough attacker also rewrites the level-0 tiles and replaces the later checkpoints.
    const tiles = db.prepare('SELECT idx FROM audit_tile WHERE level = 0').all() as { idx: number }[];
    for (const { idx } of tiles)
      db.prepare('UPDATE audit_tile SET hashes = ? WHERE level = 0 AND idx = ?').run(
        Buffer.concat(leaves.slice(idx * 256, idx * 256 + 256)),
        idx,
      );
    const forger = signerFromSeed('bulwark.local/audit', Buffer.alloc(32, 9));
    db.exec('DELETE FROM audit_checkpoint WHERE size > 300');
    db.prepare('INSERT INTO audit_checkpoint (size, note, created) VALUES (?, ?, ?)').run(
      400,
      signCheckpoint({ origin: 'bulwark.local/audit', size: 400, root: range.root() }, forger),
      new Date().toISOString(),
    );
    db.close();
    const r = await verify(f);
    assert.equal(r.ok, false);
    assert.equal(r.failure?.code, 'unknown_key');
    assert.equal(
      r.failure?.index,
      300,
      'everything from the last honestly signed checkpoint on is untrusted',
    );
    await f.stop();
  });

  /** Rewrites every stored record (failures become successes) with level-0 tiles to match; deletes every checkpoint. */
  function rewriteWhole(f: AuditFixture): void {
    const db = attacker(f);
    const segments = db.prepare('SELECT first_idx, bodies FROM audit_segment ORDER BY first_idx').all() as {
      first_idx: number;
      bodies: string;
    }[];
    const leaves: Buffer[] = [];
    for (const seg of segments) {
      const bodies = seg.bodies
        .split('\n')
        .map((b) => b.replace('"outcome":"failure"', '"outcome":"success"'));
      db.prepare('UPDATE audit_segment SET bodies = ? WHERE first_idx = ?').run(
        bodies.join('\n'),
        seg.first_idx,
      );
      leaves.push(...bodies.map((b) => leafHash(b)));
    }
    const tiles = db.prepare('SELECT idx FROM audit_tile WHERE level = 0').all() as { idx: number }[];
    for (const { idx } of tiles)
      db.prepare('UPDATE audit_tile SET hashes = ? WHERE level = 0 AND idx = ?').run(
        Buffer.concat(leaves.slice(idx * 256, idx * 256 + 256)),
        idx,
      );
    db.exec('DELETE FROM audit_checkpoint');
    db.close();
  }

  it('detects a log rewritten whole, re-hashed, with every checkpoint deleted and no anchors', async () => {
    const f = await startAudit('sqlite', { settings: { ...SETTINGS, anchorIntervalMs: 0 } });
    try {
      // 256 records: one full tile, no partial tile served from the service's memory to give it away.
      await fill(f, 2, 128);
      rewriteWhole(f);
      const r = await verify(f);
      assert.equal(r.ok, false, 'every record re-hashes, but nothing signed vouches for any of them');
      assert.deepEqual([r.failure?.code, r.failure?.index], ['unsigned', 0]);
    } finally {
      await f.stop();
    }
  });

  it('does not sign a log rewritten whole with its checkpoints deleted when restarted: the newest anchor disagrees', async () => {
    let f = await startAudit('sqlite', { settings: SETTINGS });
    try {
      await fill(f, 2, 128);
      f = await f.restart(); // the latest checkpoint is anchored on the way down
      rewriteWhole(f);
      f = await f.restart();
      assert.equal((await call(f, 'GET', '/readyz')).status, 503, 'log-integrity: false');
      await fill(f, 1, 10);
      assert.equal(
        (await call(f, 'GET', '/audit/v1/checkpoints')).json().checkpoints.length,
        0,
        'nothing signed',
      );
      assert.equal((await verify(f)).ok, false);
    } finally {
      await f.stop();
    }
  });

  // The anchor directory as WORM storage: nothing in it can be replaced or deleted, but an attacker who may
  // add entries must not be able to make start-up check an older anchor than the newest, or none.
  const anchorDir = (f: AuditFixture) => join(f.home, 'audit', 'anchor');
  const anchorName = (size: number) => `checkpoint-${String(size).padStart(12, '0')}`;
  for (const [what, plant] of [
    [
      'a symlink planted under a larger anchor name',
      (f: AuditFixture) => symlinkSync('/dev/null', join(anchorDir(f), anchorName(999_999_999_999))),
    ],
    [
      'a copy of the oldest anchor planted under a larger name',
      (f: AuditFixture) => {
        const oldest = readdirSync(anchorDir(f))
          .filter((n) => n.startsWith('checkpoint-'))
          .sort()[0]!;
        copyFileSync(join(anchorDir(f), oldest), join(anchorDir(f), anchorName(999_999_999_999)));
      },
    ],
    [
      'an anchor of a size of 10^12 or more (a name of 13 digits)',
      (f: AuditFixture) => {
        const signer = parseSignerKey(readFileSync(join(f.home, 'audit', 'log.key'), 'utf8'));
        const note = signCheckpoint(
          { origin: signer.name, size: 1_000_000_000_000, root: Buffer.alloc(32, 1) },
          signer,
        );
        writeFileSync(join(anchorDir(f), anchorName(1_000_000_000_000)), note);
      },
    ],
  ] as const) {
    it(`does not sign a log rewritten whole past ${what}`, async () => {
      let f = await startAudit('sqlite', { settings: SETTINGS });
      try {
        await fill(f, 2, 128);
        f = await f.restart();
        // An anchor of 10^12 records says the log was rolled back from there: nothing to rewrite.
        if (!what.includes('10^12')) rewriteWhole(f);
        plant(f);
        f = await f.restart();
        assert.equal((await call(f, 'GET', '/readyz')).status, 503, 'log-integrity: false');
      } finally {
        await f.stop();
      }
    });
  }

  it('detects a rollback to an older copy of the database through the anchored checkpoints', async () => {
    let f = await startAudit('sqlite', { settings: SETTINGS });
    await fill(f, 3);
    f = await f.restart(); // closes the database cleanly so the copy is consistent
    const data = join(f.home, 'data');
    cpSync(join(data, 'audit.db'), join(f.home, 'old.db'));
    await fill(f, 3);
    assert.equal((await verify(f)).ok, true);
    await f.stop();
    for (const ext of ['', '-wal', '-shm']) rmSync(join(data, `audit.db${ext}`), { force: true });
    cpSync(join(f.home, 'old.db'), join(data, 'audit.db'));
    f = await f.restart();
    const r = await verify(f);
    assert.deepEqual([r.failure?.code, r.failure?.index], ['rolled_back', 300]);
    await f.stop();
  });
});
