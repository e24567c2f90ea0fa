/** Automatic SVID renewal by WorkloadIdentity against a real authority. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkloadIdentity } from '../../src/core/mtls/workload-identity.ts';
import { startAuthority } from '../authority/fixtures.ts';

describe('automatic SVID renewal', () => {
  it('schedules renewal at half-life minus jitter, and renews on its own when that moment comes', async () => {
    const authority = await startAuthority('sqlite', {
      env: { BULWARK_COMPONENTS__AUTHORITY__SVID_TTL_SECONDS: '60' },
    });
    try {
      const join = async (skewMs: number, jitter: number) =>
        WorkloadIdentity.join({
          authority: authority.client(),
          joinToken: await authority.joinToken('orders'),
          clock: { now: () => Date.now() + skewMs },
          random: () => jitter,
          onError: () => undefined,
        });
      const calm = await join(0, 0.5);
      const m = calm.credentials.material;
      const lifetime = m.notAfter - m.notBefore;
      const expected = m.notBefore + lifetime / 2 - (lifetime / 10) * 0.5;
      assert.ok(Math.abs(calm.nextRenewalAt - expected) < 1000, `${calm.nextRenewalAt - expected} ms off`);
      assert.equal(calm.renewals, 0);
      await calm.close();

      // A workload whose clock says half-life has passed renews by itself (after the 1 s floor).
      const late = await join(lifetime / 2, 0);
      const serial = late.credentials.material.certChain;
      const started = Date.now();
      while (late.renewals === 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 100));
      assert.ok(late.renewals >= 1, 'renewed without being asked');
      assert.notEqual(late.credentials.material.certChain, serial);
      await late.close();
    } finally {
      await authority.stop();
    }
  });
});
