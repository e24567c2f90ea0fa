/** Cluster mode: two authority replicas on one PostgreSQL schema share tokens, CA, revocations and discovery. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { RotatingCredentials, svidMaterial } from '../../src/core/mtls/index.ts';
import { createWorkloadKey } from '../../src/core/mtls/workload-key.ts';
import { startAuthority } from './fixtures.ts';

describe('authority replicas on PostgreSQL', () => {
  it('redeem a token made on the other replica once, sign under one root, and see each other’s revocations', async () => {
    const namespace = `authority_c${randomBytes(4).toString('hex')}`;
    const a = await startAuthority('postgres', { namespace, keepSchema: true });
    const b = await startAuthority('postgres', { namespace, home: a.home });
    try {
      const token = await a.joinToken('orders');
      const key = await createWorkloadKey();
      const onB = b.client();
      const svid = await onB.attest(token, key.csrPem);
      await assert.rejects(a.client().attest(token, key.csrPem), { code: 'authority_join_token_invalid' });
      const roots = async (t: typeof a) => (await t.client().bundle()).keys.map((k) => k.x5c[0]);
      assert.deepEqual(await roots(a), await roots(b), 'one trust bundle');

      // Revoked on A: B's feed (long poll, re-read every second) reports it, and B refuses renewal.
      const watcher = b.client();
      watcher.useCredentials(new RotatingCredentials(svidMaterial(svid, key.privateKeyPem)));
      const feed = b.admin('GET', '/v1/revocations?after=0&waitMs=4000');
      await new Promise((resolve) => setTimeout(resolve, 100));
      await a.admin('POST', '/v1/revocations', { spiffeId: svid.spiffeId });
      const seen = (await feed).json as { entries: { serial: string }[] };
      assert.deepEqual(
        seen.entries.map((e) => e.serial),
        [svid.serial],
      );
      await assert.rejects(watcher.renew((await createWorkloadKey()).csrPem), { status: 403 });
      await Promise.all([onB.close(), watcher.close()]);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
