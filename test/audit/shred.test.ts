/**
 * Issue #8 item 5: crypto-shredding of personal data in the audit log, against the real `keys` component
 * and the real audit component over HTTPS. The test plays the ingest wiring the lead adds inside audit
 * (PiiShredder.normaliseBatch before the log appends; PiiShredder.reveal on reads): records are sealed
 * here, then appended through the ingest API, read back, proved and verified with the audit verifier.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseVerifierKey, verifyLog, verifyProofBundle } from '../../src/audit/index.ts';
import { leafData } from '../../src/audit/record/leaf-data.ts';
import { sensitivePolicy } from '../../src/audit/record/sensitive-fields.ts';
import { PiiShredder } from '../../src/audit/shred/pii-shredder.ts';
import { ERASED_MARKER, UNREADABLE_MARKER } from '../../src/audit/shred/sealed-pii.ts';
import { httpLogSource } from '../../src/audit/verifier/http-log-source.ts';
import type { KeysClient } from '../../src/sdk/keys/index.ts';
import { ADMIN, type KeysHarness, keysClient, startKeys } from '../keys/fixture.ts';
import { type AuditFixture, call, startAudit } from './fixtures/audit-server.ts';

const AUDIT = 'spiffe://bulwark.test/ns/bulwark/audit';
const PII = ['alice@example.com', 'Alice Liddell', '+44 20 7946 0001', 'bob@example.com', 'Bob Builder'];
const policy = sensitivePolicy(
  { secretKeys: ['password', 'token'], hashKeys: ['username'], maskKeys: ['cardNumber'] },
  randomBytes(32),
);
let seq = 0;
const id = () => `shred-${process.pid}-${Date.now().toString(36)}-${++seq}`;

function events() {
  // Like the audit client: every event carries its id and time, so a retry is the same event.
  const time = new Date().toISOString();
  return [
    {
      id: id(),
      time,
      actor: { type: 'user', id: 'user-alice', name: 'Alice Liddell' },
      action: 'identity.login',
      outcome: 'success',
      source: { component: 'identity' },
      details: { email: 'alice@example.com', mfa: 'totp' },
    },
    {
      id: id(),
      time,
      actor: { type: 'user', id: 'user-bob', name: 'Bob Builder' },
      action: 'identity.login',
      outcome: 'failure',
      details: { email: 'bob@example.com', contact: { phone: '+44 20 7946 0002' } },
    },
    {
      // An admin's event about Alice: the personal data in it is Alice's, under Alice's key.
      id: id(),
      time,
      actor: { type: 'user', id: 'user-admin' },
      action: 'identity.admin.user.update',
      target: { type: 'user', id: 'user-alice' },
      outcome: 'success',
      details: { changes: [{ phone: '+44 20 7946 0001' }], username: 'alice' },
    },
  ];
}

describe('audit crypto-shredding', () => {
  let keys: KeysHarness;
  let audit: AuditFixture;
  let client: KeysClient;
  const clients: KeysClient[] = [];
  const clientFor = (caller: string) => {
    const c = keysClient(keys, caller);
    clients.push(c);
    return c;
  };
  const options = () => ({ policy, now: Date.now(), maxClockSkewMs: 300_000 });

  before(async () => {
    keys = await startKeys({
      env: {
        BULWARK_COMPONENTS__KEYS__SUBJECTS__ENCRYPT: `[${AUDIT}]`,
        BULWARK_COMPONENTS__KEYS__SUBJECTS__DECRYPT: `[${AUDIT}]`,
        BULWARK_COMPONENTS__KEYS__SUBJECTS__ERASE: `[${ADMIN}]`,
      },
    });
    // The audit service stores what the shredder produced as it is (the wiring seals inside audit).
    audit = await startAudit('sqlite', { settings: { hashKeys: [], maskKeys: [] } });
    client = clientFor(AUDIT);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await audit?.stop();
    await keys?.stop();
  });

  it('seals personal data before the leaf is hashed, reads it back, and after erasure shows only that subject as erased while every proof still verifies', async () => {
    const shredder = new PiiShredder({ keys: client, encryptKeys: ['email', 'phone', 'name'] });
    const input = events();
    const sealed = await shredder.normaliseBatch(input, options());
    assert.equal(shredder.wraps, 2, 'one keys request per subject (alice, bob), not per record or field');
    const stored = JSON.stringify(sealed);
    for (const value of PII) assert.ok(!stored.includes(value), `${value} is sealed`);
    // What gets hashed into the log (the leaf data) holds the sealed values too, not the ones validated.
    const leaves = sealed.map((r, i) => leafData(r, i)).join('\n');
    for (const value of PII) assert.ok(!leaves.includes(value), `${value} is sealed in the leaf data`);
    assert.match(sealed[2]!.details!['username'] as string, /^hmac-sha256:/, 'hash keys still pseudonymise');
    assert.equal(sealed[0]!.details!['mfa'], 'totp', 'other fields stay in clear');

    await shredder.normaliseBatch(events(), options());
    assert.equal(shredder.wraps, 2, 'a batch of known subjects costs no request to keys');

    const ingest = await call(audit, 'POST', '/audit/v1/records', { records: sealed });
    assert.equal(ingest.status, 200, ingest.text);
    const ids = sealed.map((r) => r.id);
    const read = async () => {
      const all = (await call(audit, 'GET', '/audit/v1/records?limit=10000')).json().records as {
        id: string;
        actor: { type: string; id: string; name?: string };
        target?: { type: string; id: string };
        source?: { component: string; ip?: string };
        details?: Record<string, unknown>;
      }[];
      return all.filter((r) => ids.includes(r.id));
    };
    const raw = await read();
    assert.ok(!JSON.stringify(raw).includes('alice@example.com'), 'the log stores ciphertext');

    const [alice, bob, aboutAlice] = await shredder.reveal(raw);
    assert.equal(alice!.actor.name, 'Alice Liddell');
    assert.deepEqual(alice!.details, { email: 'alice@example.com', mfa: 'totp' });
    assert.deepEqual(bob!.details, { email: 'bob@example.com', contact: { phone: '+44 20 7946 0002' } });
    assert.deepEqual(aboutAlice!.details!['changes'], [{ phone: '+44 20 7946 0001' }]);

    // Erasure (GDPR Art. 17): a privacy officer erases Alice's key in keys; nothing in the log changes.
    await clientFor(ADMIN).eraseSubject('user-alice');
    const [a2, b2, t2] = await new PiiShredder({ keys: client, encryptKeys: ['email'] }).reveal(await read());
    assert.equal(a2!.actor.name, ERASED_MARKER);
    assert.equal(a2!.details!['email'], ERASED_MARKER);
    assert.equal(a2!.details!['mfa'], 'totp');
    assert.deepEqual(
      t2!.details!['changes'],
      [{ phone: ERASED_MARKER }],
      "Alice's data in the admin's event too",
    );
    assert.equal(b2!.actor.name, 'Bob Builder', 'other subjects are unaffected');
    assert.equal(b2!.details!['email'], 'bob@example.com');

    // New events about an erased subject: within the writer's cache lifetime they are sealed under a data
    // key whose wrapped form no longer opens (unreadable from the start); after it, the marker is stored.
    const late = await shredder.normaliseBatch([{ ...events()[0]!, id: id() }], options());
    assert.equal((await shredder.reveal(late))[0]!.details!['email'], ERASED_MARKER);
    const seen = await shredder.normaliseBatch([{ ...events()[0]!, id: id() }], options());
    assert.equal(seen[0]!.details!['email'], ERASED_MARKER, 'a read that saw the erasure stops new writes');
    shredder.clear();
    const fresh = await shredder.normaliseBatch([{ ...events()[0]!, id: id() }], options());
    assert.equal(fresh[0]!.actor.name, ERASED_MARKER);

    // Proofs: each record's inclusion proof verifies against a signed checkpoint, and so does the whole log.
    await new Promise((r) => setTimeout(r, 300));
    const logKey = parseVerifierKey((await call(audit, 'GET', '/audit/v1/log-key')).text);
    for (const record of raw) {
      const bundle = (await call(audit, 'GET', `/audit/v1/records/${record.id}/proof`)).text;
      const proved = verifyProofBundle(bundle, logKey);
      assert.equal(JSON.parse(proved.leaf.toString()).id, record.id);
    }
    const source = httpLogSource(audit.url, { ca: audit.ca });
    try {
      const report = await verifyLog(source, { logKey });
      assert.equal(report.ok, true, JSON.stringify(report.failure));
    } finally {
      await source.close();
    }

    for (const line of keys.logs) {
      for (const value of [...PII, 'user-alice', 'user-bob'])
        assert.ok(!line.includes(value), 'no personal data or subject id in a keys log line');
    }
  });

  it('does not keep expired data keys in memory after their TTL', async () => {
    const shredder = new PiiShredder({ keys: client, encryptKeys: ['email', 'phone', 'name'], ttlMs: 50 });
    await shredder.normaliseBatch(events(), options());
    assert.ok(shredder.cached > 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(shredder.cached, 0, 'every expired key was dropped');
    shredder.clear();
  });

  it('keeps the stored ciphertexts for a retried batch, so the log answers duplicate rather than conflict', async () => {
    const storedBodies = async (ids: readonly string[]) => {
      const out = new Map<string, string>();
      for (const rid of ids) {
        const res = await call(audit, 'GET', `/audit/v1/records/${rid}`);
        if (res.status === 200) out.set(rid, res.text);
      }
      return out;
    };
    const input = events();
    const first = await new PiiShredder({
      keys: client,
      encryptKeys: ['email', 'phone', 'name'],
    }).normaliseBatch(input, options());
    assert.equal((await call(audit, 'POST', '/audit/v1/records', { records: first })).status, 200);
    // The response was lost; the audit client retries, and a fresh shredder (another replica) seals again.
    const plain = new PiiShredder({ keys: client, encryptKeys: ['email', 'phone', 'name'] });
    const conflicting = await plain.normaliseBatch(input, options());
    assert.equal(
      (await call(audit, 'POST', '/audit/v1/records', { records: conflicting })).json().code,
      'audit_id_conflict',
    );
    const retry = await new PiiShredder({
      keys: client,
      encryptKeys: ['email', 'phone', 'name'],
      storedBodies,
    }).normaliseBatch(input, options());
    const res = await call(audit, 'POST', '/audit/v1/records', { records: retry });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.json().results.map((r: { duplicate: boolean }) => r.duplicate),
      [true, true, true],
    );
    const changed = { ...input[1]!, details: { email: 'mallory@example.com' } };
    const [tampered] = await new PiiShredder({
      keys: client,
      encryptKeys: ['email'],
      storedBodies,
    }).normaliseBatch([changed], options());
    const refused = await call(audit, 'POST', '/audit/v1/records', { records: [tampered] });
    assert.equal(
      refused.json().code,
      'audit_id_conflict',
      'different personal data under the same id still conflicts',
    );
  });

  it("seals a user's source IP under their key and leaves a service's IP in clear", async () => {
    // In-process only: the ingest API re-validates `source.ip` as an address, which the wiring (sealing
    // inside audit, after validation) does not.
    const shredder = new PiiShredder({ keys: client, encryptKeys: ['email'] });
    const [user, service] = await shredder.normaliseBatch(
      [
        { ...events()[1]!, source: { component: 'identity', ip: '192.0.2.10' } },
        {
          id: id(),
          actor: { type: 'service', id: 'spiffe://bulwark.test/ns/shop/orders', name: 'orders' },
          action: 'orders.create',
          outcome: 'success',
          source: { component: 'orders', ip: '198.51.100.7' },
        },
      ],
      options(),
    );
    assert.ok(!JSON.stringify(user).includes('192.0.2.10'));
    assert.equal(service!.source!.ip, '198.51.100.7');
    assert.equal(service!.actor.name, 'orders', 'a service name is not personal data');
    const [shown] = await shredder.reveal([user!]);
    assert.equal(shown!.source!.ip, '192.0.2.10');
  });

  it('shows a value copied into another record or field as unreadable, not as the original', async () => {
    const shredder = new PiiShredder({ keys: client, encryptKeys: ['email'] });
    const [bob] = await shredder.normaliseBatch([events()[1]!], options());
    const copied = {
      ...bob!,
      id: id(),
      details: { email: bob!.details!['email'], other: bob!.details!['email'] },
    };
    const [shown] = await shredder.reveal([copied]);
    assert.equal(shown!.details!['email'], UNREADABLE_MARKER, 'bound to its record id');
    assert.equal(shown!.details!['other'], UNREADABLE_MARKER);
    const moved = { ...bob!, actor: { type: 'user' as const, id: 'user-mallory' } };
    const [asMallory] = await shredder.reveal([moved]);
    assert.equal(asMallory!.details!['email'], UNREADABLE_MARKER, 'bound to its subject key');
  });

  it('fails a batch with a clear 503 while keys is down, returning nothing half-sealed', async () => {
    const down = keysClient(keys, AUDIT, keys.url.replace(/:\d+$/, ':1'));
    clients.push(down);
    const shredder = new PiiShredder({ keys: down, encryptKeys: ['email'] });
    await assert.rejects(
      shredder.normaliseBatch(events(), options()),
      (err: Error & { code?: string; status?: number }) => {
        assert.equal(err.code, 'upstream_unavailable');
        assert.equal(err.status, 503);
        assert.ok(!err.message.includes('example.com'), 'no personal data in the error');
        return true;
      },
    );
    const sealed = await new PiiShredder({ keys: client, encryptKeys: ['email'] }).normaliseBatch(
      [events()[1]!],
      options(),
    );
    await assert.rejects(shredder.reveal(sealed), { code: 'upstream_unavailable' });
  });

  it('still refuses secrets under a personal-data key and validates the whole batch first', async () => {
    const shredder = new PiiShredder({ keys: client, encryptKeys: ['email'] });
    const before = shredder.wraps;
    const bad = { ...events()[1]!, details: { email: { password: 'hunter2' } } };
    await assert.rejects(shredder.normaliseBatch([events()[0]!, bad], options()), {
      code: 'audit_secret_refused',
    });
    assert.equal(shredder.wraps, before, 'nothing was sent to keys for a refused batch');
  });
});
