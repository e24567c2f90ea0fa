/** CA rotation through overlapping bundles, and the sealed CA keys, against a real authority. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/index.ts';
import { createWorkloadKey } from '../../src/core/mtls/workload-key.ts';
import { startAuthority } from './fixtures.ts';

const rootsOf = (bundle: { keys: { x5c: string[]; use: string }[] }) =>
  bundle.keys.map((k) => new X509Certificate(Buffer.from(k.x5c[0]!, 'base64')));

describe('CA rotation', () => {
  it('publishes the new root before it signs, keeps the old one until its SVIDs expire, then drops it', async () => {
    const clock = new ManualClock(Date.now());
    const authority = await startAuthority('sqlite', {
      clock,
      env: { BULWARK_COMPONENTS__AUTHORITY__SVID_TTL_SECONDS: '60' },
    });
    try {
      const client = authority.client();
      const first = rootsOf(await client.bundle());
      assert.equal(first.length, 1);
      assert.equal(
        first[0]!.subject,
        new X509Certificate(authority.ca).subject,
        'the first root is the local CA',
      );

      assert.equal(
        (await authority.admin('POST', '/v1/rotation', { phase: 'activate' })).json.code,
        'authority_rotation_conflict',
      );
      assert.equal((await authority.admin('POST', '/v1/rotation', { phase: 'prepare' })).status, 200);
      const overlapping = await client.bundle();
      assert.equal(rootsOf(overlapping).length, 2);
      assert.equal(
        overlapping.keys.every((k) => k.use === 'x509-svid'),
        true,
      );

      // Still signed by the old chain while only prepared.
      const key = await createWorkloadKey();
      const before = await client.attest(await authority.joinToken('orders'), key.csrPem);
      const leaf = (chain: string) =>
        new X509Certificate(chain.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----');
      const inter = (chain: string) =>
        new X509Certificate(
          chain.split('-----END CERTIFICATE-----')[1]!.trim() + '\n-----END CERTIFICATE-----',
        );
      assert.ok(inter(before.certChain).checkIssued(first[0]!));

      assert.equal((await authority.admin('POST', '/v1/rotation', { phase: 'activate' })).status, 200);
      const after = await client.attest(await authority.joinToken('orders'), key.csrPem);
      const newRoot = rootsOf(await client.bundle()).find((r) => r.subject !== first[0]!.subject)!;
      assert.ok(inter(after.certChain).checkIssued(newRoot), 'new SVIDs chain to the new root');
      assert.ok(leaf(after.certChain).checkIssued(inter(after.certChain)));
      assert.equal(rootsOf(await client.bundle()).length, 2, 'the old root stays while its SVIDs live');

      const early = await authority.admin('POST', '/v1/rotation', { phase: 'retire' });
      assert.equal(early.json.code, 'authority_rotation_conflict');
      clock.advance(61_000);
      assert.equal((await authority.admin('POST', '/v1/rotation', { phase: 'retire' })).status, 200);
      const final = await client.bundle();
      assert.deepEqual(
        rootsOf(final).map((r) => r.subject),
        [newRoot.subject],
      );
      assert.ok(final.spiffe_sequence > overlapping.spiffe_sequence);
      assert.ok(authority.audit.events.some((e) => e.action === 'authority.ca.activate'));
      await client.close();
    } finally {
      await authority.stop();
    }
  });

  it('refuses to start with a passphrase other than the one that sealed the CA keys', async () => {
    const env = { BULWARK_COMPONENTS__AUTHORITY__KEY_PASSPHRASE: 'correct horse battery staple' };
    const first = await startAuthority('sqlite', { env });
    await first.stop();
    // The authority issues its own SVID at start, so the wrong passphrase stops it before it listens.
    await assert.rejects(
      startAuthority('sqlite', {
        home: first.home,
        env: { BULWARK_COMPONENTS__AUTHORITY__KEY_PASSPHRASE: 'wrong passphrase entirely' },
      }),
      { code: 'authority_key_sealed', status: 500 },
    );
  });
});
