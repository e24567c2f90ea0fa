/**
 * Revocation is of an identity, not only of the serials seen when it runs: a renewal in flight while a
 * workload is revoked must not yield a certificate that outlives the revocation, and an identity stays
 * revoked until an operator issues a new join token for it. Attacker's side, on both engines.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SvidResponse } from '../../src/core/mtls/authority-client.ts';
import { RotatingCredentials, svidMaterial } from '../../src/core/mtls/index.ts';
import { createWorkloadKey, type WorkloadKey } from '../../src/core/mtls/workload-key.ts';
import { startAuthority, type TestAuthority, withLatency } from './fixtures.ts';

const credentialsOf = (svid: SvidResponse, key: WorkloadKey) =>
  new RotatingCredentials(svidMaterial(svid, key.privateKeyPem));

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`authority revocation races on ${engine}`, () => {
    let authority: TestAuthority;
    before(async () => {
      // 1 ms per statement, as over a network: on SQLite the whole check-then-insert would otherwise run
      // within one turn of the event loop and the race could not be observed there.
      authority = await startAuthority(engine, { wrapStore: (store) => withLatency(store, 1) });
    });
    after(() => authority.stop());

    const attest = async (service: string, token?: string) => {
      const client = authority.client();
      const key = await createWorkloadKey();
      const svid = await client.attest(token ?? (await authority.joinToken(service)), key.csrPem);
      await client.close();
      return { svid, key };
    };

    /** Tries to renew with `svid`; resolves to the HTTP status of the refusal, or 200. */
    const renewStatus = async (svid: SvidResponse, key: WorkloadKey) => {
      const client = authority.client();
      client.useCredentials(credentialsOf(svid, key));
      const fresh = await createWorkloadKey();
      try {
        await client.renew(fresh.csrPem);
        return 200;
      } catch (err) {
        return (err as { status?: number }).status ?? 0;
      } finally {
        await client.close();
      }
    };

    it('leaves no SVID alive that was renewed while its workload was being revoked', async () => {
      const { svid: svid0, key: key0 } = await attest('rogue');
      const rogue = authority.client();
      rogue.useCredentials(credentialsOf(svid0, key0));
      const keys = await Promise.all(Array.from({ length: 8 }, () => createWorkloadKey()));
      const got: { svid: SvidResponse; key: WorkloadKey }[] = [];
      const refusals: number[] = [];
      const deadline = Date.now() + 10_000;
      // A compromised workload renews as fast as it can, 8 requests in flight, until it is refused.
      const loops = keys.map(async (key) => {
        while (Date.now() < deadline) {
          try {
            got.push({ svid: await rogue.renew(key.csrPem), key });
          } catch (err) {
            refusals.push((err as { status?: number }).status ?? 0);
            return;
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const res = await authority.admin('POST', '/v1/revocations', {
        spiffeId: svid0.spiffeId,
        reason: 'compromised',
      });
      assert.equal(res.status, 200);
      await Promise.all(loops);
      await rogue.close();
      assert.ok(got.length > 0, 'the workload renewed before the revocation');
      assert.deepEqual(
        refusals,
        keys.map(() => 403),
        'every renewal loop ends with a refusal',
      );
      const revoked = new Set<string>(res.json.revoked);
      const survivors = got.filter((g) => !revoked.has(g.svid.serial));
      assert.equal(survivors.length, 0, `${survivors.length} of ${got.length} renewed SVIDs survived`);
      // Whatever the workload holds, none of it renews any more (sample: first, last and the original).
      for (const held of [got[0]!, got.at(-1)!, { svid: svid0, key: key0 }]) {
        assert.equal(await renewStatus(held.svid, held.key), 403);
      }
    });

    it('keeps a revoked identity revoked: a join token created before the revocation no longer works', async () => {
      const early = await authority.joinToken('stolen');
      const { svid, key } = await attest('stolen');
      const res = await authority.admin('POST', '/v1/revocations', {
        spiffeId: svid.spiffeId,
        reason: 'compromised',
      });
      assert.equal(res.status, 200);
      const client = authority.client();
      const fresh = await createWorkloadKey();
      await assert.rejects(client.attest(early, fresh.csrPem), { status: 401 });
      await client.close();
      assert.equal(await renewStatus(svid, key), 403);
    });

    it('refuses to issue for a revoked identity that had no live SVID when it was revoked', async () => {
      const created = await authority.admin('POST', '/v1/join-tokens', { service: 'never-seen' });
      const { token, spiffeId } = created.json as { token: string; spiffeId: string };
      const res = await authority.admin('POST', '/v1/revocations', { spiffeId, reason: 'pre-emptive' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json.revoked, []);
      const client = authority.client();
      const fresh = await createWorkloadKey();
      await assert.rejects(client.attest(token, fresh.csrPem), { status: 401 });
      await client.close();
    });

    it('lifts an identity revocation only through a new join token, audited, and never revives old SVIDs', async () => {
      const { svid: old, key: oldKey } = await attest('reborn');
      await authority.admin('POST', '/v1/revocations', { spiffeId: old.spiffeId, reason: 'compromised' });
      assert.equal(await renewStatus(old, oldKey), 403);
      const token = await authority.joinToken('reborn');
      const reinstated = authority.audit.events.find(
        (e) => e.action === 'authority.identity.reinstate' && e.target?.id === old.spiffeId,
      );
      assert.ok(reinstated, 'the reinstatement is audited');
      assert.equal(reinstated.outcome, 'success');
      assert.equal(reinstated.details?.revocationReason, 'compromised');
      const { svid, key } = await attest('reborn', token);
      assert.equal(svid.spiffeId, old.spiffeId);
      assert.equal(await renewStatus(svid, key), 200);
      // The SVIDs revoked before the reinstatement stay revoked.
      assert.equal(await renewStatus(old, oldKey), 403);
      // A join token for an identity that is not revoked reinstates nothing.
      const count = () =>
        authority.audit.events.filter(
          (e) => e.action === 'authority.identity.reinstate' && e.target?.id === old.spiffeId,
        ).length;
      const before = count();
      await authority.joinToken('reborn');
      assert.equal(count(), before);
    });
  });
}
