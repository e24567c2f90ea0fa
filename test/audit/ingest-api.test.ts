/** The ingest API, proofs and checkpoints over real HTTPS, on both storage engines. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import {
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  verifyProofBundle,
} from '../../src/audit/index.ts';
import { bodiesFrom } from '../../src/audit/log/record-store.ts';
import { openCheckpoint } from '../../src/audit/verifier/checkpoint.ts';
import { leafHash } from '../../src/audit/verifier/tree-hash.ts';
import { openStore } from '../../src/core/index.ts';
import {
  type AuditFixture,
  call,
  dropNamespace,
  type Engine,
  event,
  startAudit,
} from './fixtures/audit-server.ts';

for (const engine of ['sqlite', 'postgres'] as Engine[]) {
  describe(`audit ingest on ${engine}`, () => {
    let f: AuditFixture;
    before(async () => {
      f = await startAudit(engine, { settings: { checkpointIntervalMs: 50 } });
    });
    after(async () => {
      await f.stop();
      await dropNamespace(engine, f.definition.name);
    });

    it('appends a batch, acknowledges each record with its index, and signs a checkpoint covering it', async () => {
      const batch = Array.from({ length: 300 }, () => event());
      const res = await call(f, 'POST', '/audit/v1/records', { records: batch });
      assert.equal(res.status, 200, res.text);
      const body = res.json();
      assert.equal(body.results.length, 300);
      const first = body.results[0].index;
      assert.deepEqual(
        body.results.map((r: { index: number }) => r.index),
        Array.from({ length: 300 }, (_, i) => first + i),
      );
      await new Promise((r) => setTimeout(r, 120));
      const key = parseVerifierKey((await call(f, 'GET', '/audit/v1/log-key')).text);
      const cp = openCheckpoint((await call(f, 'GET', '/audit/v1/checkpoint')).text, key);
      assert.ok(cp.size >= first + 300);
    });

    it('is idempotent by record id: a retried batch is not written twice', async () => {
      const batch = Array.from({ length: 5 }, () => event());
      const a = (await call(f, 'POST', '/audit/v1/records', { records: batch })).json();
      const b = (await call(f, 'POST', '/audit/v1/records', { records: batch })).json();
      assert.deepEqual(
        b.results.map((r: { index: number }) => r.index),
        a.results.map((r: { index: number }) => r.index),
      );
      assert.ok(b.results.every((r: { duplicate: boolean }) => r.duplicate));
      assert.equal(b.size, a.size);
    });

    it('refuses to reuse an id for different content (409) and writes nothing of that batch', async () => {
      const original = event();
      await call(f, 'POST', '/audit/v1/records', { records: [original] });
      const before = (await call(f, 'GET', '/audit/v1/retention')).json().size;
      const res = await call(f, 'POST', '/audit/v1/records', {
        // Different content whatever outcome event() picked for the original (every fifth is a failure).
        records: [
          event(),
          { ...original, outcome: original['outcome'] === 'failure' ? 'success' : 'failure' },
        ],
      });
      assert.equal(res.status, 409);
      assert.equal(res.json().code, 'audit_id_conflict');
      assert.equal((await call(f, 'GET', '/audit/v1/retention')).json().size, before);
    });

    it('answers a schema violation with 400 naming the field, and stores none of the batch', async () => {
      const before = (await call(f, 'GET', '/audit/v1/retention')).json().size;
      const res = await call(f, 'POST', '/audit/v1/records', {
        records: [event(), event({ outcome: 'maybe' })],
      });
      assert.equal(res.status, 400);
      assert.equal(res.json().code, 'audit_schema');
      assert.equal(res.json().field, 'records[1].outcome');
      const bad = [
        [{ actor: { type: 'service', id: 'orders' } }, 'records[0].actor.id'],
        [{ time: new Date(Date.now() + 86_400_000).toISOString() }, 'records[0].time'],
        [{ source: { component: 'x', ip: 'not-an-ip' } }, 'records[0].source.ip'],
        [{ extra: 1 }, 'records[0].extra'],
        [{ action: 'DROP TABLE' }, 'records[0].action'],
        // Unpaired surrogates (sent as \u escapes) have no RFC 8785 form, and as UTF-8 they collide.
        [{ actor: { type: 'user', id: 'u-1', name: 'a\ud800b' } }, 'records[0].actor.name'],
        [{ details: { note: 'x\udc00' } }, 'records[0].details.note'],
        [{ details: { 'k\ud800': 1 } }, 'records[0].details'],
        [{ details: { email: 'alice\ud800@example.com' } }, 'records[0].details.email'],
      ] as const;
      for (const [override, field] of bad) {
        const r = await call(f, 'POST', '/audit/v1/records', { records: [event(override)] });
        assert.equal(r.status, 400, field);
        assert.equal(r.json().field, field);
      }
      assert.equal((await call(f, 'GET', '/audit/v1/retention')).json().size, before);
    });

    it('answers 400, not 500, for an actor id with a NUL character, and stores none of the batch', async () => {
      // actor.id is also stored as a search term, in a text column: PostgreSQL cannot hold a NUL there, and
      // a 500 made the audit client retry and spool the whole batch (every event in it) for ever.
      const before = (await call(f, 'GET', '/audit/v1/retention')).json().size;
      const res = await call(f, 'POST', '/audit/v1/records', {
        records: [event(), event({ actor: { type: 'user', id: 'mallory\u0000admin' } })],
      });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json().code, 'audit_schema');
      assert.equal(res.json().field, 'records[1].actor.id');
      assert.equal((await call(f, 'GET', '/audit/v1/retention')).json().size, before);
    });

    it('answers 400, not 500, for a value nested too deep under a pseudonymised or masked key', async () => {
      for (const key of ['email', 'cardNumber']) {
        // Raw text: the value is too deep for JSON.stringify (and was for the service's pseudonym and mask).
        const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
        const record = JSON.stringify(event())
          .replace(/}$/, `,"details":{"${key}":${deep}}}`)
          .replace(/"details":\{"method":"password","attempt":\d+\},/, '');
        const res = await request(`${f.url}/audit/v1/records`, {
          method: 'POST',
          dispatcher: f.dispatcher,
          body: `{"records":[${record}]}`,
          headers: { 'content-type': 'application/json' },
        });
        const answer = (await res.body.json()) as { code: string; field: string };
        assert.equal(res.statusCode, 400, key);
        assert.equal(answer.code, 'audit_schema');
        assert.ok(answer.field.startsWith(`records[0].details.${key}`), answer.field);
      }
    });

    it('refuses secrets by key and by shape, naming the field', async () => {
      const jwt =
        'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
      const cases = [
        [{ details: { password: 'hunter2' } }, 'records[0].details.password'],
        [{ details: { nested: { Client_Secret: 'x' } } }, 'records[0].details.nested.Client_Secret'],
        [{ details: { note: `Authorization: Bearer ${'a'.repeat(30)}` } }, 'records[0].details.note'],
        [{ reason: `token was ${jwt}` }, 'records[0].reason'],
        // A credential used as a key (a map of sessions by token) is refused too, named by its parent.
        [{ details: { sessions: { [jwt]: 'active' } } }, 'records[0].details.sessions'],
        [
          { details: { blob: ['ok', '-----BEGIN RSA PRIVATE KEY-----\nMIIE'] } },
          'records[0].details.blob[1]',
        ],
      ] as const;
      for (const [override, field] of cases) {
        const r = await call(f, 'POST', '/audit/v1/records', { records: [event(override)] });
        assert.equal(r.status, 400, field);
        assert.equal(r.json().code, 'audit_secret_refused');
        assert.equal(r.json().field, field);
        assert.ok(!r.text.includes('hunter2') && !r.text.includes(jwt), 'the secret is not echoed back');
      }
    });

    it('pseudonymises personal data with a keyed hash and masks card numbers before storing', async () => {
      const e = event({
        details: { email: 'alice@example.com', cardNumber: '4111111111111111', plan: 'gold' },
      });
      await call(f, 'POST', '/audit/v1/records', { records: [e] });
      const stored = (await call(f, 'GET', `/audit/v1/records/${e['id']}`)).json();
      assert.match(stored.details.email, /^hmac-sha256:[A-Za-z0-9_-]{22}$/);
      assert.equal(stored.details.cardNumber, '****1111');
      assert.equal(stored.details.plan, 'gold');
      const again = event({ details: { email: 'alice@example.com' } });
      await call(f, 'POST', '/audit/v1/records', { records: [again] });
      assert.equal(
        (await call(f, 'GET', `/audit/v1/records/${again['id']}`)).json().details.email,
        stored.details.email,
      );
    });

    it('serves inclusion and consistency proofs that verify against signed checkpoints', async () => {
      await call(f, 'POST', '/audit/v1/records', { records: Array.from({ length: 40 }, () => event()) });
      await new Promise((r) => setTimeout(r, 120));
      const key = parseVerifierKey((await call(f, 'GET', '/audit/v1/log-key')).text);
      const cps = (await call(f, 'GET', '/audit/v1/checkpoints'))
        .json()
        .checkpoints.map((c: { note: string }) => openCheckpoint(c.note, key));
      const [old, latest] = [cps[1], cps.at(-1)];
      const c = (
        await call(f, 'GET', `/audit/v1/proof/consistency?from=${old.size}&to=${latest.size}`)
      ).json();
      assert.ok(
        verifyConsistency(
          old.size,
          latest.size,
          c.hashes.map((h: string) => Buffer.from(h, 'base64')),
          old.root,
          latest.root,
        ),
      );
      const entries = (await call(f, 'GET', '/audit/v1/entries?start=7&limit=1')).text;
      const leaf = leafHash(entries.slice(entries.indexOf(' ') + 1, -1));
      const p = (await call(f, 'GET', `/audit/v1/proof/inclusion?index=7&size=${latest.size}`)).json();
      assert.ok(
        verifyInclusion(
          7,
          latest.size,
          leaf,
          p.hashes.map((h: string) => Buffer.from(h, 'base64')),
          latest.root,
        ),
      );
      assert.equal(
        (await call(f, 'GET', `/audit/v1/proof/inclusion?index=${latest.size}&size=${latest.size}`)).status,
        400,
      );
    });

    it('serves /entries line for line as the stored bodies, across segment boundaries', async () => {
      const store = openStore(f.config.storage, { home: f.home, namespace: f.definition.name });
      try {
        const size = (await call(f, 'GET', '/audit/v1/checkpoint')).text.split('\n')[1];
        const n = Number(size);
        assert.ok(n > 300, 'several segments in the log');
        for (const [start, limit] of [
          [0, 1],
          [0, 10000],
          [299, 3],
          [5, 295],
          [n - 1, 10],
          [n, 5],
        ] as const) {
          const text = (await call(f, 'GET', `/audit/v1/entries?start=${start}&limit=${limit}`)).text;
          const rows = await bodiesFrom(store, start, start + limit);
          assert.equal(
            text,
            rows.map((r) => `${r.idx} ${r.body}\n`).join(''),
            `start=${start} limit=${limit}`,
          );
        }
      } finally {
        await store.close();
      }
    });

    it('writes a tlog-proof bundle per record that the offline verifier accepts, and only for that record', async () => {
      const e = event();
      await call(f, 'POST', '/audit/v1/records', { records: [e] });
      const bundle = (await call(f, 'GET', `/audit/v1/records/${e['id']}/proof`)).text;
      const key = parseVerifierKey((await call(f, 'GET', '/audit/v1/log-key')).text);
      const ok = verifyProofBundle(bundle, key);
      assert.equal(JSON.parse(ok.leaf.toString()).id, e['id']);
      const forged = bundle.replace(/^extra (.*)$/m, (_m, b64: string) => {
        const rec = JSON.parse(Buffer.from(b64, 'base64').toString());
        rec.outcome = rec.outcome === 'success' ? 'failure' : 'success';
        return `extra ${Buffer.from(JSON.stringify(rec)).toString('base64')}`;
      });
      assert.throws(() => verifyProofBundle(forged, key), { code: 'inclusion_failed' });
    });

    it('stores text outside ASCII byte for byte: what is hashed is what is kept and served', async () => {
      const texts = ['Zoë Ångström', '日本語のユーザー', 'emoji 😀 and a lone \u00a0 space'];
      const batch = texts.map((t) =>
        event({ actor: { type: 'user', id: 'u-1', name: t }, details: { note: t } }),
      );
      // ASCII records around them, so the multi-byte ones sit mid-segment as well as at its ends.
      const records = [event(), ...batch, event()];
      const res = await call(f, 'POST', '/audit/v1/records', { records });
      assert.equal(res.status, 200, res.text);
      const key = parseVerifierKey((await call(f, 'GET', '/audit/v1/log-key')).text);
      for (const [k, e] of batch.entries()) {
        const bundle = (await call(f, 'GET', `/audit/v1/records/${e['id']}/proof`)).text;
        const leaf = JSON.parse(verifyProofBundle(bundle, key).leaf.toString('utf8'));
        assert.equal(leaf.actor.name, texts[k]);
        assert.deepEqual(leaf.details, { note: texts[k] });
      }
      const first = res.json().results[0].index as number;
      const lines = (await call(f, 'GET', `/audit/v1/entries?start=${first}&limit=5`)).text.split('\n');
      assert.equal(JSON.parse(lines[2]!.slice(lines[2]!.indexOf(' ') + 1)).details.note, texts[1]);
    });
    it('answers 400 or 404, never 500, for numbers and text the database cannot hold', async () => {
      // Beyond PostgreSQL's bigint (or not an integer once parsed), and NUL characters, which its text
      // cannot hold: each reached SQL as a parameter and came back as a 500.
      const big = '10000000000000000000';
      const paths = [
        `/audit/v1/records?after=${big}`,
        '/audit/v1/records?after=1e300',
        `/audit/v1/export?format=ecs&after=${big}`,
        `/audit/v1/checkpoints?after=${big}`,
        `/audit/v1/entries?start=${big}`,
        `/audit/v1/leaf-hashes?start=${big}`,
        `/audit/v1/proof/inclusion?index=${big}`,
        '/audit/v1/tile/0/x001/x000/x000/x000/x000/x000/x000/000',
        '/audit/v1/records?actor=a%00b',
        '/audit/v1/records?category=%00',
        '/audit/v1/export?format=cef&component=%00',
        '/audit/v1/records/evt%00evt-1',
        '/audit/v1/records/evt%00evt-1/proof',
      ];
      for (const path of paths) {
        const res = await call(f, 'GET', path);
        assert.ok([400, 404].includes(res.status), `${path}: ${res.status} ${res.text}`);
        assert.match(res.json().code, /^(invalid_request|audit_)/, path);
      }
      for (const [method, path, body] of [
        ['POST', '/audit/v1/holds', { reason: 'x', fromIndex: Number(big) }],
        ['POST', '/audit/v1/holds', { reason: 'x', toIndex: 1e300 }],
        ['POST', '/audit/v1/holds', { reason: 'case\u00001' }],
        ['DELETE', '/audit/v1/holds/%00', undefined],
      ] as const) {
        const res = await call(f, method, path, body);
        assert.ok([400, 404].includes(res.status), `${method} ${path}: ${res.status} ${res.text}`);
      }
      assert.deepEqual((await call(f, 'GET', '/audit/v1/retention')).json().holds, []);
    });

    it('serves a record and its proof by an id of the longest length the schema allows', async () => {
      // 128 characters: the router's default limit of 100 per path parameter answered 414 for these.
      const e = event({ id: `long-${'x'.repeat(123)}` });
      assert.equal((await call(f, 'POST', '/audit/v1/records', { records: [e] })).status, 200);
      assert.equal((await call(f, 'GET', `/audit/v1/records/${e['id']}`)).json().id, e['id']);
      assert.equal((await call(f, 'GET', `/audit/v1/records/${e['id']}/proof`)).status, 200);
    });

    it('marks every answer that holds record content no-store, so no cache keeps a copy', async () => {
      const e = event();
      await call(f, 'POST', '/audit/v1/records', { records: [e] });
      for (const path of [
        `/audit/v1/records/${e['id']}`,
        '/audit/v1/records?limit=5',
        '/audit/v1/export?format=ecs&limit=5',
        '/audit/v1/entries?start=0&limit=5',
        `/audit/v1/records/${e['id']}/proof`,
        '/audit/v1/records/no-such-record-id',
      ]) {
        const res = await call(f, 'GET', path);
        assert.equal(res.status, path.endsWith('no-such-record-id') ? 404 : 200, path);
        assert.equal(res.headers['cache-control'], 'no-store', path);
      }
    });

    it('serves full tiles at their C2SP tlog-tiles paths, immutable', async () => {
      const res = await call(f, 'GET', '/audit/v1/tile/0/000');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['cache-control']), /immutable/);
      assert.equal((await call(f, 'GET', '/audit/v1/tile/0/x999/000')).status, 404);
      // One URL per tile (C2SP tlog-tiles): no other spelling of level, index or width is served, so an
      // immutable tile is not cached under any number of names.
      for (const path of [
        '/audit/v1/tile/00/000',
        '/audit/v1/tile/0x0/000',
        '/audit/v1/tile/%200/000',
        '/audit/v1/tile/+0/000',
        '/audit/v1/tile/0/x000/000',
      ]) {
        const res = await call(f, 'GET', path);
        assert.equal(res.status, 404, path);
        assert.equal(res.json().code, 'audit_not_found', path);
      }
      // The partial right edge: its width without leading zeroes only.
      await call(f, 'POST', '/audit/v1/records', { records: [event()] });
      const size = (await call(f, 'GET', '/audit/v1/retention')).json().size as number;
      const edge = String(Math.floor(size / 256)).padStart(3, '0');
      assert.ok(size % 256 > 0 && edge.length === 3, `size ${size}`);
      assert.equal((await call(f, 'GET', `/audit/v1/tile/0/${edge}.p/1`)).status, 200);
      assert.equal((await call(f, 'GET', `/audit/v1/tile/0/${edge}.p/01`)).status, 404);
      assert.equal((await call(f, 'GET', `/audit/v1/tile/0/x000/${edge}.p/1`)).status, 404);
    });
  });
}
