/** Retention with legal holds, search, and export (ECS, CEF, syslog, Splunk HEC with acknowledgement). */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { MAX_SEGMENTS_PER_PAGE } from '../../src/audit/api/query-routes.ts';
import { toCef, toEcs, toSyslog } from '../../src/audit/export/event-formats.ts';
import { pushToHec } from '../../src/audit/export/splunk-hec.ts';
import { canonicalJson, leafHash, parseVerifierKey, verifyInclusion } from '../../src/audit/index.ts';
import { openCheckpoint } from '../../src/audit/verifier/checkpoint.ts';
import { auditVerify, resolveTarget } from '../../src/cli/commands/audit.ts';
import { ManualClock } from '../../src/core/index.ts';
import {
  type AuditFixture,
  call,
  dropNamespace,
  type Engine,
  event,
  PG_URL,
  startAudit,
} from './fixtures/audit-server.ts';

const sink = { write: () => true } as unknown as NodeJS.WritableStream;
const NOW = Date.UTC(2026, 5, 1);
const at = (y: number) => new Date(Date.UTC(y, 0, 1)).toISOString();
/** A day after `at(y)`: when records dated `at(y)` are appended (a record past its retention is refused). */
const dayAfter = (y: number) => Date.UTC(y, 0, 2);

async function post(f: AuditFixture, records: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < records.length; i += 1000) {
    const res = await call(f, 'POST', '/audit/v1/records', { records: records.slice(i, i + 1000) });
    assert.equal(res.status, 200, res.text);
  }
  await new Promise((r) => setTimeout(r, 80));
}

/**
 * A clock reading `now`, which runs `onPrune` (once) the first time a prune reads it: the moment right after
 * the prune has read the holds, to place a hold while it scans.
 */
function pruneClock(now: () => number): { now: () => number; onPrune: (() => void) | undefined } {
  const clock = {
    onPrune: undefined as (() => void) | undefined,
    now: () => {
      if (clock.onPrune && / at (Retention\.)?#?prune /.test(new Error().stack ?? '')) {
        const fire = clock.onPrune;
        clock.onPrune = undefined;
        fire();
      }
      return now();
    },
  };
  return clock;
}

for (const engine of ['sqlite', 'postgres'] as Engine[]) {
  describe(`retention on ${engine}`, () => {
    const fixtures: AuditFixture[] = [];
    after(async () => {
      for (const f of fixtures) {
        await f.stop();
        await dropNamespace(engine, f.definition.name);
      }
    });

    it('prunes only by moving the minimum index forward, stops at the first record still retained, and the log still verifies', async () => {
      const clock = new ManualClock(dayAfter(2020));
      const f = await startAudit(engine, { clock, settings: { checkpointIntervalMs: 20 } });
      fixtures.push(f);
      const records = [
        ...Array.from({ length: 600 }, () => event({ time: at(2020), category: 'default' })),
        event({ time: at(2020), category: 'financial' }), // 7 years: kept until 2027
        ...Array.from({ length: 300 }, () => event({ time: at(2020) })),
      ];
      await post(f, records);
      clock.advance(NOW - clock.now());
      const res = (await call(f, 'POST', '/audit/v1/retention/prune')).json();
      assert.deepEqual(
        res,
        { minIndex: 512, previous: 0 },
        'floor is the tile boundary below the financial record at 600',
      );
      assert.equal((await call(f, 'GET', `/audit/v1/records/${records[0]!['id']}`)).status, 404);
      assert.equal((await call(f, 'GET', `/audit/v1/records/${records[512]!['id']}`)).status, 200);
      const report = await auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
      assert.equal(report.ok, true, JSON.stringify(report.failure));
      assert.equal(report.minIndex, 512);
      const prune = (await call(f, 'GET', '/audit/v1/records?action=audit.retention.prune')).json();
      assert.equal(prune.records.length, 1, 'pruning is itself audited');
      // A late retry of pruned records (a client's spool, a replayed batch) is refused, not stored again,
      // on the ingest thread and on the event loop's path (the word `constructor` sends a body there).
      const size = (await call(f, 'GET', '/audit/v1/retention')).json().size;
      for (const batch of [records.slice(0, 3), [{ ...records[1]!, reason: 'constructor' }]]) {
        const fresh = event({ time: at(2026) });
        const retry = await call(f, 'POST', '/audit/v1/records', { records: [fresh, ...batch] });
        assert.equal(retry.status, 400, retry.text);
        assert.equal(retry.json().code, 'audit_expired');
        assert.equal(retry.json().field, 'records[1].time');
      }
      assert.equal((await call(f, 'GET', '/audit/v1/retention')).json().size, size, 'nothing stored');
    });

    it('keeps a category named like an Object.prototype member for the default retention, not for ever', async () => {
      // `constructor` passes the category syntax; looked up as retentionDays['constructor'] it found
      // Object.prototype.constructor, so its records never expired: one such record stopped every prune
      // there for good, and a late retry of it was never refused.
      const clock = new ManualClock(dayAfter(2020));
      const f = await startAudit(engine, { clock, settings: { checkpointIntervalMs: 20 } });
      fixtures.push(f);
      const records = [
        event({ time: at(2020), category: 'constructor' }),
        ...Array.from({ length: 300 }, () => event({ time: at(2020) })),
      ];
      await post(f, records);
      clock.advance(NOW - clock.now());
      const res = (await call(f, 'POST', '/audit/v1/retention/prune')).json();
      assert.deepEqual(res, { minIndex: 256, previous: 0 });
      const retry = await call(f, 'POST', '/audit/v1/records', { records: [records[0]] });
      assert.equal(retry.status, 400, retry.text);
      assert.equal(retry.json().code, 'audit_expired');
    });

    it('never prunes records under a legal hold', async () => {
      const clock = new ManualClock(dayAfter(2019));
      const f = await startAudit(engine, { clock, settings: { checkpointIntervalMs: 20 } });
      fixtures.push(f);
      await post(
        f,
        Array.from({ length: 1100 }, () => event({ time: at(2019), category: 'health' })),
      );
      clock.advance(NOW - clock.now());
      const hold = await call(f, 'POST', '/audit/v1/holds', {
        category: 'health',
        fromIndex: 700,
        reason: 'litigation 42',
      });
      assert.equal(hold.status, 201);
      assert.deepEqual((await call(f, 'POST', '/audit/v1/retention/prune')).json(), {
        minIndex: 512,
        previous: 0,
      });
      // A late record of the held category is kept, however old: the hold covers the index it gets.
      const late = await call(f, 'POST', '/audit/v1/records', {
        records: [event({ time: at(2019), category: 'health' })],
      });
      assert.equal(late.status, 200, late.text);
      const unheld = await call(f, 'POST', '/audit/v1/records', {
        records: [event({ time: at(2019), category: 'security' })],
      });
      assert.equal(unheld.json().code, 'audit_expired', 'a category under no hold is refused');
      assert.equal((await call(f, 'DELETE', `/audit/v1/holds/${hold.json().id}`)).status, 204);
      const after = (await call(f, 'POST', '/audit/v1/retention/prune')).json();
      assert.equal(after.minIndex, 1024);
    });

    it('never prunes past a legal hold placed while a prune is scanning', async () => {
      // The hold arrives right after the prune has read the holds, while it scans 20,000 expired records.
      const started = Date.now();
      let base = dayAfter(2019);
      const clock = pruneClock(() => base + (Date.now() - started));
      const f = await startAudit(engine, { clock, settings: { checkpointIntervalMs: 20 } });
      fixtures.push(f);
      await post(
        f,
        Array.from({ length: 20_000 }, () => event({ time: at(2019), category: 'health' })),
      );
      base = NOW;
      let hold: Promise<{ status: number; answeredAt: number }> | undefined;
      clock.onPrune = () => {
        hold = call(f, 'POST', '/audit/v1/holds', { fromIndex: 0, reason: 'litigation 43' }).then((r) => ({
          status: r.status,
          answeredAt: performance.now(),
        }));
      };
      const pruned = (await call(f, 'POST', '/audit/v1/retention/prune')).json();
      const prunedAt = performance.now();
      assert.ok(hold, 'the prune read the clock');
      const placed = await hold;
      assert.equal(placed.status, 201);
      // A hold acknowledged before the prune finished must hold: nothing under it may be gone.
      if (placed.answeredAt < prunedAt) assert.equal(pruned.minIndex, 0, JSON.stringify(pruned));
    });
  });
}

describe('retention with a checkpoint that could not be stored (SQLite)', () => {
  it('never prunes past the last checkpoint in the stored history, and the log still verifies', async () => {
    const clock = new ManualClock(dayAfter(2019));
    const f = await startAudit('sqlite', { clock, settings: { checkpointIntervalMs: 20 } });
    try {
      await post(
        f,
        Array.from({ length: 300 }, () => event({ time: at(2019) })),
      );
      const db = new DatabaseSync(join(f.home, 'data', 'audit.db'));
      // Stands for a full disk: checkpoint rows cannot be written, the one for 600 is signed but not stored.
      db.exec(
        "CREATE TRIGGER full_disk BEFORE INSERT ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'disk full'); END",
      );
      await post(
        f,
        Array.from({ length: 300 }, () => event({ time: at(2019) })),
      );
      clock.advance(NOW - clock.now());
      const pruned = (await call(f, 'POST', '/audit/v1/retention/prune')).json();
      assert.ok(pruned.minIndex <= 300, `floor ${pruned.minIndex} stays under the stored checkpoint of 300`);
      db.exec('DROP TRIGGER full_disk');
      db.close();
      await new Promise((r) => setTimeout(r, 100));
      const report = await auditVerify(resolveTarget({ url: f.url }, f.home), sink, false);
      assert.equal(report.ok, true, JSON.stringify(report.failure));
    } finally {
      await f.stop();
      await dropNamespace('sqlite', f.definition.name);
    }
  });
});

describe('retention with two audit processes on one PostgreSQL log', () => {
  it('never prunes past a legal hold another process placed while this one scanned', async () => {
    const started = Date.now();
    let from = dayAfter(2019);
    const base = { now: () => from + (Date.now() - started) };
    const a = await startAudit('postgres', { clock: base, settings: { checkpointIntervalMs: 20 } });
    const name = a.definition.name;
    const clock = pruneClock(base.now);
    let b: AuditFixture | undefined;
    const db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=bulwark_${name}` });
    await db.connect();
    try {
      await post(
        a,
        Array.from({ length: 20_000 }, () => event({ time: at(2019), category: 'health' })),
      );
      from = NOW;
      // A replica (or a second replica's prune timer) on the same log: holds go to one, a prune runs on the other.
      b = await startAudit('postgres', { name, clock, settings: { checkpointIntervalMs: 60_000 } });
      let hold: Promise<{ status: number; answeredAt: number }> | undefined;
      clock.onPrune = () => {
        hold = call(a, 'POST', '/audit/v1/holds', { fromIndex: 0, reason: 'litigation 44' }).then((r) => ({
          status: r.status,
          answeredAt: performance.now(),
        }));
      };
      await call(b, 'POST', '/audit/v1/retention/prune');
      const prunedAt = performance.now();
      assert.ok(hold, 'the prune read the clock');
      const placed = await hold;
      assert.equal(placed.status, 201);
      const { rows } = await db.query('SELECT min_index FROM audit_floor');
      if (placed.answeredAt < prunedAt) assert.equal(Number(rows[0].min_index), 0);
    } finally {
      await db.end();
      await b?.stop();
      await a.stop();
      await dropNamespace('postgres', name);
    }
  });
});

describe('search and export (SQLite)', () => {
  let f: AuditFixture;
  after(() => f.stop());

  it('searches by time range, actor, action, outcome and component', async () => {
    f = await startAudit('sqlite', { settings: { checkpointIntervalMs: 20 } });
    await post(f, [
      event({
        time: '2026-01-01T00:00:00Z',
        actor: { type: 'user', id: 'alice' },
        action: 'keys.decrypt',
        outcome: 'failure',
        source: { component: 'keys' },
      }),
      event({
        time: '2026-02-01T00:00:00Z',
        actor: { type: 'user', id: 'alice' },
        action: 'keys.decrypt',
        outcome: 'success',
        source: { component: 'keys' },
      }),
      event({
        time: '2026-03-01T00:00:00Z',
        actor: { type: 'service', id: 'spiffe://bulwark.local/ns/prod/sa/orders' },
        action: 'policy.decision',
        outcome: 'failure',
        source: { component: 'gateway' },
      }),
    ]);
    const q = async (query: string) =>
      (await call(f, 'GET', `/audit/v1/records?${query}`))
        .json()
        .records.map((r: { index: number }) => r.index);
    assert.deepEqual(await q('actor=alice'), [0, 1]);
    assert.deepEqual(await q('actor=alice&outcome=failure'), [0]);
    assert.deepEqual(await q('component=gateway'), [2]);
    assert.deepEqual(await q('from=2026-01-15T00:00:00Z&to=2026-02-15T00:00:00Z'), [1]);
    assert.deepEqual(await q('action=policy.decision'), [2]);
    assert.equal(
      (await call(f, 'GET', `/audit/v1/records?actor=${encodeURIComponent("' OR 1=1 --")}`)).json().records
        .length,
      0,
    );
  });

  it('ends a page that reads too many segments early, short, with a cursor, and finds the match on later pages', async () => {
    // Each segment holds scan-alice reading and scan-bob writing: both terms match every segment in SQL,
    // yet no record is scan-alice writing, so one request used to parse the whole log looking for one.
    const g = await startAudit('sqlite');
    const noise = (i: number) => [
      event({ actor: { type: 'user', id: 'scan-alice' }, action: 'x.read', requestId: `n${i}a` }),
      event({ actor: { type: 'user', id: 'scan-bob' }, action: 'x.write', requestId: `n${i}b` }),
    ];
    for (let i = 0; i < MAX_SEGMENTS_PER_PAGE + 20; i++) {
      const res = await call(g, 'POST', '/audit/v1/records', { records: noise(i) });
      assert.equal(res.status, 200);
    }
    await post(g, [
      event({ actor: { type: 'user', id: 'scan-alice' }, action: 'x.write', requestId: 'hit' }),
    ]);
    const found: string[] = [];
    let pages = 0;
    let after: number | null = -1;
    while (after !== null) {
      const page = (
        await call(g, 'GET', `/audit/v1/records?actor=scan-alice&action=x.write&limit=10&after=${after}`)
      ).json();
      found.push(...page.records.map((r: { requestId: string }) => r.requestId));
      after = page.next;
      pages++;
      assert.ok(pages < 10, `the pages end (next ${after})`);
    }
    assert.deepEqual(found, ['hit']);
    assert.ok(pages >= 2, `${pages} page(s): the first one must stop at the scan budget`);
    await g.stop();
  });

  it('answers a time range Date cannot hold, or that leaves years 0000-9999, with 400 instead of 500 or wrong records', async () => {
    // JSON Schema's date-time takes a leap second, which Date cannot represent (it was a 500), and an offset
    // can carry a time past 9999-12-31, whose ISO form (+010000-...) sorted before every stored time.
    for (const query of [
      'from=2016-12-31T23:59:60Z',
      'to=2016-12-31T23:59:60Z',
      `from=${encodeURIComponent('9999-12-31T23:59:59-23:59')}`,
      'format=ecs&from=2016-12-31T23:59:60Z',
    ]) {
      const path = query.startsWith('format') ? `/audit/v1/export?${query}` : `/audit/v1/records?${query}`;
      const res = await call(f, 'GET', path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json().code, 'invalid_request');
      assert.match(res.json().detail, /between years 0000 and 9999/);
    }
    const lower = await call(f, 'GET', '/audit/v1/records?from=2026-02-01t00:00:00z');
    assert.deepEqual(
      lower
        .json()
        .records.map((r: { index: number }) => r.index)
        .slice(0, 2),
      [1, 2],
      'a lower-case t and z still read as UTC',
    );
  });

  it('exports ECS lines whose embedded record re-hashes to a leaf the log proves', async () => {
    const key = parseVerifierKey((await call(f, 'GET', '/audit/v1/log-key')).text);
    const cp = openCheckpoint((await call(f, 'GET', '/audit/v1/checkpoint')).text, key);
    const lines = (await call(f, 'GET', '/audit/v1/export?format=ecs')).text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    for (const doc of lines) {
      assert.equal(doc.event.sequence, doc.bulwark.audit.index);
      const leaf = leafHash(canonicalJson(doc.bulwark.audit.record));
      const proof = (
        await call(f, 'GET', `/audit/v1/proof/inclusion?index=${doc.event.sequence}&size=${cp.size}`)
      ).json();
      assert.ok(
        verifyInclusion(
          doc.event.sequence,
          cp.size,
          leaf,
          proof.hashes.map((h: string) => Buffer.from(h, 'base64')),
          cp.root,
        ),
      );
    }
  });

  it('exports CEF and RFC 5424 syslog lines carrying the leaf index', async () => {
    const cef = (await call(f, 'GET', '/audit/v1/export?format=cef&actor=alice')).text.trim().split('\n');
    assert.match(
      cef[0]!,
      /^CEF:0\|Bulwark\|audit\|[^|]+\|keys\.decrypt\|keys\.decrypt\|5\|rt=\d+ .*cn1Label=leafIndex cn1=0/,
    );
    const syslog = (await call(f, 'GET', '/audit/v1/export?format=syslog&component=gateway')).text.trim();
    assert.match(
      syslog,
      /^<108>1 2026-03-01T00:00:00\.000Z \S+ bulwark-audit - policy\.decision \[bulwark@32473 index="2" /,
    );
  });

  it('keeps every CEF event on one line whatever line breaks its values hold', () => {
    // Fields a workload fills freely (user actor id, reason, target) with a lone carriage return, which
    // SIEM syslog inputs take as a line break: the rest would arrive as a forged event of its own.
    const forged = 'CEF:0|Bulwark|audit|1|identity.login|identity.login|3|suser=admin outcome=success';
    const line = toCef({
      id: 'rec-cr-000001',
      index: 9,
      time: '2026-01-01T00:00:00.000Z',
      actor: { type: 'user', id: `mallory\r${forged}` },
      action: 'identity.login',
      outcome: 'failure',
      category: 'security',
      reason: `bad password\r\n${forged}\n${forged}`,
      target: { type: 'user', id: `x\r${forged}` },
    });
    assert.deepEqual(line.split(/\r\n|\r|\n/).length, 1, JSON.stringify(line));
    assert.match(line, /suser=mallory\\r/);
  });

  it('pushes to a Splunk HEC and counts events delivered only once the indexer acknowledges them', async () => {
    const received: unknown[] = [];
    let polls = 0;
    const hec = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.headers.authorization !== 'Splunk test-token' || !req.headers['x-splunk-request-channel']) {
          res.writeHead(401).end('{"text":"Invalid token","code":4}');
          return;
        }
        if (req.url === '/services/collector/event') {
          for (const l of body.split('\n')) received.push(JSON.parse(l));
          res.end(JSON.stringify({ text: 'Success', code: 0, ackId: 7 }));
        } else {
          polls++;
          res.end(JSON.stringify({ acks: { 7: polls > 1 } }));
        }
      });
    });
    await new Promise<void>((r) => hec.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hec.address() as AddressInfo).port}`;
    const records = (await call(f, 'GET', '/audit/v1/records')).json().records;
    const out = await pushToHec(records, {
      url,
      token: 'test-token',
      origin: 'bulwark.local/audit',
      pollMs: 10,
    });
    assert.deepEqual(out, { sent: 3, acknowledged: 3 });
    assert.equal(polls, 2);
    assert.deepEqual(
      received.map((e) => (e as { event: { event: { sequence: number } } }).event.event.sequence),
      [0, 1, 2],
    );
    await assert.rejects(pushToHec(records, { url, token: 'wrong', origin: 'o' }), {
      code: 'audit_export_failed',
    });
    hec.close();
  });

  it('counts nothing as delivered that a collector did not acknowledge with true, once per batch', async () => {
    // A collector (or something posing as one) that answers oddly: nothing may count as delivered.
    const records = (await call(f, 'GET', '/audit/v1/records')).json().records;
    let mode = '';
    let ackId = 0;
    const hec = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (mode === 'not-json') return void res.end('<html>maintenance</html>');
        if (req.url === '/services/collector/event') {
          // `same-id`: every batch gets the same ackId, as after a collector restart mid-push.
          const id = mode === 'same-id' ? 1 : ++ackId;
          return void res.end(JSON.stringify({ text: 'Success', code: 0, ackId: id }));
        }
        const acks: Record<number, unknown> = {};
        for (let id = 1; id <= ackId; id++) acks[id] = mode === 'string-false' ? 'false' : true;
        res.end(JSON.stringify({ acks }));
      });
    });
    await new Promise<void>((r) => hec.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hec.address() as AddressInfo).port}`;
    try {
      for (const m of ['string-false', 'same-id', 'not-json']) {
        mode = m;
        await assert.rejects(
          pushToHec(records, { url, token: 't', origin: 'o', batchSize: 1, pollMs: 5, ackTimeoutMs: 50 }),
          { code: 'audit_export_failed' },
          m,
        );
      }
    } finally {
      hec.close();
    }
  });
});

describe('export formats', () => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
  const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
  it('keeps NUL, other control characters and Unicode line separators out of CEF and syslog events', () => {
    // reason, target and actor.name take any text but NUL-free actor ids: a NUL cut the line short in
    // C-based syslog inputs (the record in cs1 was lost), an escape sequence reached the analyst's terminal,
    // NEL / U+2028 / U+2029 / vertical tab / form feed are line breaks to many line splitters, and C1
    // and bidi controls make a SIEM display a value other than it is.
    const odd = 'a\u0000b\u001b[31mc\u000bd\u000ce\u0085f\u2028g\u2029h\u007fi\u0090j\u202ek\u2066l';
    const record = {
      id: 'rec-ctl-000001',
      index: 4,
      time: '2026-01-01T00:00:00.000Z',
      actor: { type: 'user' as const, id: 'mallory', name: odd },
      action: 'identity.login',
      outcome: 'failure' as const,
      category: 'security',
      reason: odd,
      target: { type: 'user', id: odd },
    };
    const line = toCef(record);
    assert.doesNotMatch(line, unsafe, JSON.stringify(line));
    // The record in cs1 still reads back as the same value, so the copy can be re-hashed.
    const cs1 = /cs1=(.*)$/
      .exec(line)![1]!
      .replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    assert.deepEqual(JSON.parse(cs1), record);
    const syslog = toSyslog(record, 'host');
    assert.doesNotMatch(syslog, unsafe, JSON.stringify(syslog));
    assert.deepEqual(JSON.parse(syslog.slice(syslog.indexOf('\uFEFF') + 1)), record);
  });

  it('puts only an IP address in the ECS and CEF address fields, never a sealed or erased value', () => {
    // With crypto-shredding a user's source.ip is stored sealed (or `[erased]`). ECS maps source.ip as
    // type ip and CEF src as an address: Elasticsearch refused every such document (mapping error), so
    // the events of every user with an address never reached the SIEM. The record still carries it.
    const withIp = (index: number, ip: string) => ({
      id: `rec-ip-000000${index}`,
      index,
      time: '2026-01-01T00:00:00.000Z',
      actor: { type: 'user' as const, id: 'alice' },
      action: 'identity.login',
      outcome: 'success' as const,
      category: 'security',
      source: { component: 'identity', ip },
    });
    for (const ip of [`bulwark:pii1:a:bulwark:v1:${'A'.repeat(40)}.${'B'.repeat(40)}`, '[erased]']) {
      const record = withIp(5, ip);
      const ecs = toEcs(record, 'o') as { source?: unknown; bulwark: { audit: { record: unknown } } };
      assert.equal(ecs.source, undefined);
      assert.deepEqual(ecs.bulwark.audit.record, record);
      assert.doesNotMatch(toCef(record), / src=/);
    }
    const clear = withIp(6, '2001:db8::1');
    assert.deepEqual((toEcs(clear, 'o') as { source?: unknown }).source, { ip: '2001:db8::1' });
    assert.match(toCef(clear), / src=2001:db8::1 /);
  });
});
