/**
 * `/audit/v1/entries` is capped in bytes (`entriesMaxBytes`): large records cannot make one answer, or the
 * service building it, hold gigabytes; `x-entries-end` says where an answer stopped and readers (the
 * verifier's HTTP source) go on from there until they have the range.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseVerifierKey, verifyLog } from '../../src/audit/index.ts';
import { httpLogSource } from '../../src/audit/verifier/http-log-source.ts';
import { type AuditFixture, call, event, startAudit } from './fixtures/audit-server.ts';

const CAP = 65_536;

describe('/entries byte cap', () => {
  let f: AuditFixture;
  before(async () => {
    f = await startAudit('sqlite', { settings: { entriesMaxBytes: CAP, checkpointIntervalMs: 20 } });
    // 40 records of ~10 KB: ~400 KB in all, about six capped answers.
    for (let b = 0; b < 4; b++) {
      const records = Array.from({ length: 10 }, (_, i) =>
        event({ details: { note: `${b}${i}`.repeat(5_000) } }),
      );
      assert.equal((await call(f, 'POST', '/audit/v1/records', { records })).status, 200);
    }
    await new Promise((r) => setTimeout(r, 100));
  });
  after(() => f.stop());

  it('stops an answer at the cap, says where, and going on from there gives the rest', async () => {
    const first = await call(f, 'GET', '/audit/v1/entries?start=0&limit=40');
    const end = Number(first.headers['x-entries-end']);
    assert.ok(end > 0 && end < 40, `stopped at ${end}`);
    assert.ok(Buffer.byteLength(first.text) <= CAP, `${Buffer.byteLength(first.text)} bytes`);
    const lines: number[] = first.text
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(l.split(' ')[0]));
    for (let at = end; at < 40; ) {
      const next = await call(f, 'GET', `/audit/v1/entries?start=${at}&limit=${40 - at}`);
      lines.push(
        ...next.text
          .split('\n')
          .filter(Boolean)
          .map((l) => Number(l.split(' ')[0])),
      );
      at = Number(next.headers['x-entries-end']);
    }
    assert.deepEqual(
      lines,
      Array.from({ length: 40 }, (_, i) => i),
    );
  });

  it('stops a search or export page at the same cap, with a cursor, and paging gives every record', async () => {
    // limit goes up to 10,000: of records up to ~50 KB, one search answer (and the revealed copies, and the
    // serialised page) held hundreds of megabytes, an export page more, in the process that also ingests.
    for (const path of ['/audit/v1/records?limit=40', '/audit/v1/export?format=ecs&limit=40']) {
      const seen: number[] = [];
      let after = -1;
      let pages = 0;
      for (;;) {
        const res = await call(f, 'GET', `${path}&after=${after}`);
        assert.equal(res.status, 200, res.text);
        const records: { index: number }[] = path.includes('export')
          ? res.text
              .split('\n')
              .filter(Boolean)
              .map((l) => ({ index: JSON.parse(l).bulwark.audit.index as number }))
          : res.json().records;
        pages++;
        assert.ok(records.length > 0 && records.length < 40, `${path}: ${records.length} records on a page`);
        seen.push(...records.map((r) => r.index));
        const next = path.includes('export') ? res.headers['x-next-after'] : res.json().next;
        if (next === undefined || next === null) break;
        after = Number(next);
        assert.ok(pages < 40, 'the pages end');
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 40 }, (_, i) => i),
        path,
      );
    }
  });

  it('the verifier reads the whole log through capped answers', async () => {
    const source = httpLogSource(f.url, { ca: f.ca });
    try {
      const report = await verifyLog(source, {
        logKey: parseVerifierKey(readFileSync(join(f.home, 'audit', 'log.vkey'), 'utf8')),
      });
      assert.equal(report.ok, true, JSON.stringify(report.failure));
      assert.equal(report.size, 40);
      const texts = await source.entries(0, 40);
      assert.deepEqual(
        texts.map((e) => e.index),
        Array.from({ length: 40 }, (_, i) => i),
      );
    } finally {
      await source.close();
    }
  });
});
