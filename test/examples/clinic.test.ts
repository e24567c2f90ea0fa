/**
 * The clinic example on real parts: authority, keys, the keys mesh ingress, patients and appointments on
 * the SDK, billing behind a real sidecar. Each test takes the attacker's side of one control.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ALICE, BOB, type Clinic, startClinic } from './clinic-fixtures.ts';

/** Every byte the service left on disk (database, WAL, anything else), as one latin1 string. */
function everythingOnDisk(dir: string): string {
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('\n');
}

for (const keysMode of ['mesh', 'ingress'] as const)
  describe(`clinic example (keys ${keysMode === 'mesh' ? 'serving mTLS as under bulwark up' : 'behind the keys ingress'})`, () => {
    let clinic: Clinic;
    before(async () => {
      clinic = await startClinic({ keysMode });
    });
    after(async () => {
      await clinic?.stop();
    });

    test('appointments checks the patient with patients over mTLS and shows their name', async () => {
      const booked = await clinic.asUser('appointments', 'alice', ['patient'], '/v1/appointments', {
        method: 'POST',
        body: { patientId: 'alice', at: '2026-12-01T09:30:00Z', reason: 'check-up' },
      });
      assert.equal(booked.status, 201, JSON.stringify(booked.body));
      assert.equal(booked.body['patientName'], ALICE.name);
      assert.equal(booked.body['doctor'], 'dr-carol');

      const carol = await clinic.asUser('appointments', 'dr-carol', ['doctor'], '/v1/appointments');
      assert.equal(carol.status, 200);
      const list = carol.body['appointments'] as { patientId: string; patientName: string }[];
      assert.deepEqual(
        list.map((a) => [a.patientId, a.patientName]),
        [['alice', ALICE.name]],
      );

      // An unknown patient is looked up too (404 from patients), and refused without revealing it.
      const ghost = await clinic.asUser('appointments', 'alice', ['patient'], '/v1/appointments', {
        method: 'POST',
        body: { patientId: 'nobody', at: '2026-12-01T09:30:00Z', reason: 'x' },
      });
      assert.equal(ghost.status, 403);
    });

    test('the patient directory answers appointments only: the gateway itself is refused by policy', async () => {
      const res = await clinic.asUser('patients', 'erin', ['admin'], '/v1/directory/patients/alice');
      assert.equal(res.status, 403);
      assert.equal(res.body['code'], 'mesh_peer_forbidden');
    });

    test('billing cannot call patients: its sidecar is refused by the service-to-service policy, and it is audited', async () => {
      // Straight through billing's sidecar, as billing's code would.
      const direct = await fetch(
        `http://127.0.0.1:${clinic.billingOutbound['patients']}/v1/directory/patients/alice`,
      );
      const body = (await direct.json()) as { code?: string };
      assert.equal(direct.status, 403);
      assert.equal(body.code, 'mesh_peer_forbidden');
      assert.equal(JSON.stringify(body).includes(ALICE.name), false);

      // And through billing's own probe, as a clerk asks for it through the gateway.
      const probe = await clinic.asUser(
        'billing',
        'dave',
        ['billing-clerk'],
        '/v1/billing/patients-probe/alice',
      );
      assert.equal(probe.status, 200);
      assert.deepEqual(probe.body, { reachable: false, status: 403, code: 'mesh_peer_forbidden' });

      const denial = clinic.patientsAudit.events.find(
        (e) =>
          e.action === 'mesh.call' &&
          e.outcome === 'failure' &&
          e.actor.id === 'spiffe://bulwark.local/service/billing',
      );
      assert.ok(denial, 'the refusal is in the audit trail');
      assert.equal(denial.reason, 'mesh_peer_forbidden');
    });

    test('PII is stored encrypted in the patients SQLite file: no name, birth date, national id or note in clear', async () => {
      const created = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients', {
        method: 'POST',
        body: { id: 'dan', name: 'Daniel Zyxwvut', dateOfBirth: '1971-01-30', nationalId: '555-12-3456' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const noted = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients/dan/notes', {
        method: 'POST',
        body: { note: 'Fractured left radius, cast applied' },
      });
      assert.equal(noted.status, 200);

      const disk = everythingOnDisk(clinic.patientsDir);
      assert.ok(disk.includes('bulwark:env1:'), 'fields are FieldCipher envelopes');
      for (const secret of [
        ALICE.name,
        ALICE.nationalId,
        ALICE.dateOfBirth,
        ALICE.notes[0]!,
        BOB.name,
        BOB.nationalId,
        'Daniel Zyxwvut',
        '555-12-3456',
        '1971-01-30',
        'Fractured left radius',
      ]) {
        assert.equal(
          disk.includes(secret),
          false,
          `plaintext found on disk: field of ${secret.length} chars`,
        );
      }
      // Yet the admin reads it back in full, decrypted through keys.
      const admin = await clinic.asUser('patients', 'erin', ['admin'], '/v1/patients/dan');
      assert.equal(admin.status, 200);
      assert.equal(admin.body['nationalId'], '555-12-3456');
      assert.deepEqual(admin.body['notes'], ['Fractured left radius, cast applied']);
    });

    test('card numbers are stored only as tokens keeping the last four; clerks see them masked', async () => {
      const card = '4111 1111 1111 1111';
      const paid = await clinic.asUser('billing', 'dave', ['billing-clerk'], '/v1/payments', {
        method: 'POST',
        body: { patientId: 'alice', amountCents: 4500, cardNumber: card },
      });
      assert.equal(paid.status, 201, JSON.stringify(paid.body));
      assert.equal(paid.body['card'], '**** **** **** 1111');
      assert.equal('cardToken' in paid.body, false, 'clerks never see the token');

      const disk = everythingOnDisk(clinic.billingDir);
      assert.equal(disk.includes('4111111111111111'), false);
      assert.equal(disk.includes(card), false);

      const admin = await clinic.asUser('billing', 'erin', ['admin'], '/v1/payments');
      const [payment] = admin.body['payments'] as { cardToken: string; cardLast4: string }[];
      assert.ok(payment);
      assert.match(payment.cardToken, /^\d{16}$/);
      assert.ok(payment.cardToken.endsWith('1111'));
      assert.notEqual(payment.cardToken, '4111111111111111');
      assert.ok(disk.includes(payment.cardToken), 'the token is what is stored');

      // billing may tokenize and nothing more: detokenizing through its sidecar is refused by policy.
      const detok = await fetch(
        `http://127.0.0.1:${clinic.billingOutbound['keys']}/v1/keys/clinic-cards/detokenize`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: payment.cardToken }),
        },
      );
      assert.equal(detok.status, 403);
      // Behind the ingress the mesh policy refuses it; keys on mTLS refuses it by its key ACL (it does
      // not run the mesh policy itself, see the README).
      assert.equal(
        ((await detok.json()) as { code: string }).code,
        keysMode === 'mesh' ? 'keys_forbidden' : 'mesh_peer_forbidden',
      );

      // A patient sees their own payments, masked; another patient's payment list is empty for bob.
      const bob = await clinic.asUser('billing', 'bob', ['patient'], '/v1/payments');
      assert.deepEqual(bob.body['payments'], []);
    });

    test('a patient reads their own record but not another patient’s (403, audited)', async () => {
      const own = await clinic.asUser('patients', 'alice', ['patient'], '/v1/patients/me');
      assert.equal(own.status, 200);
      assert.equal(own.body['name'], ALICE.name);
      assert.equal(own.body['nationalId'], ALICE.nationalId);

      const other = await clinic.asUser('patients', 'alice', ['patient'], '/v1/patients/bob');
      assert.equal(other.status, 403);
      assert.equal(other.body['code'], 'clinic_forbidden');
      assert.equal(JSON.stringify(other.body).includes(BOB.name), false);
      const audited = clinic.patientsAudit.events.find(
        (e) => e.action === 'clinic.patients.read' && e.actor.id === 'alice' && e.target?.id === 'bob',
      );
      assert.equal(audited?.outcome, 'failure');

      const list = await clinic.asUser('patients', 'alice', ['patient'], '/v1/patients');
      assert.deepEqual(
        (list.body['patients'] as { id: string }[]).map((p) => p.id),
        ['alice'],
      );
      // Nor can she book for bob.
      const booking = await clinic.asUser('appointments', 'alice', ['patient'], '/v1/appointments', {
        method: 'POST',
        body: { patientId: 'bob', at: '2026-12-02T10:00:00Z', reason: 'x' },
      });
      assert.equal(booking.status, 403);
    });

    test('a doctor reads their own patients only, with the national id masked', async () => {
      const mine = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients/alice');
      assert.equal(mine.status, 200);
      assert.equal(mine.body['name'], ALICE.name);
      assert.equal(mine.body['nationalId'], '***-**-6789');

      const notMine = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients/bob');
      assert.equal(notMine.status, 403);
      // A record that does not exist looks the same to her: ids cannot be probed. Admins get the truth.
      const missing = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients/nobody');
      assert.equal(missing.status, 403);
      assert.equal(missing.body['code'], notMine.body['code']);
      const adminMissing = await clinic.asUser('patients', 'erin', ['admin'], '/v1/patients/nobody');
      assert.equal(adminMissing.status, 404);
      const annotate = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients/bob/notes', {
        method: 'POST',
        body: { note: 'x' },
      });
      assert.equal(annotate.status, 403);

      const list = await clinic.asUser('patients', 'dr-carol', ['doctor'], '/v1/patients');
      const ids = (list.body['patients'] as { id: string }[]).map((p) => p.id);
      assert.equal(ids.includes('bob'), false);
      assert.ok(ids.includes('alice'));

      const booking = await clinic.asUser('appointments', 'dr-carol', ['doctor'], '/v1/appointments', {
        method: 'POST',
        body: { patientId: 'bob', at: '2026-12-02T10:00:00Z', reason: 'x' },
      });
      assert.equal(booking.status, 403);
    });

    test('user identity is taken only from a valid gateway assertion', async () => {
      // No assertion, a forged one (another key), one for another service: all refused.
      const none = await clinic.asUser('patients', 'alice', ['patient'], '/v1/patients/me', {
        assertion: '',
      });
      assert.equal(none.status, 401);
      const { Ed25519AssertionSigner } = await import('../../src/gateway/upstream/identity-assertion.ts');
      const { systemClock } = await import('../../src/core/index.ts');
      const forged = new Ed25519AssertionSigner(systemClock).assertion(
        { kind: 'user', subject: 'bob', roles: ['admin'], tenant: 'clinic', amr: ['mfa'], consumer: 'x' },
        'patients',
      );
      const withForged = await clinic.asUser('patients', 'bob', ['admin'], '/v1/patients/alice', {
        assertion: forged,
      });
      assert.equal(withForged.status, 401);
      const replayed = await clinic.asUser('patients', 'bob', ['admin'], '/v1/patients/alice', {
        assertion: clinic.assertion('bob', ['admin'], 'appointments'),
      });
      assert.equal(replayed.status, 401);
      assert.equal(replayed.body['code'], 'clinic_unauthenticated');
    });
  });
