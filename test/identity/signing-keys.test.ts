/**
 * Signing keys: created on first start, sealed at rest, rotated in three phases without invalidating live
 * tokens, on both engines.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { ManualClock } from '../../src/core/index.ts';
import { SqliteStore } from '../../src/core/storage/index.ts';
import { createSecretBox } from '../../src/identity/keys/key-encryption.ts';
import { localVault } from '../../src/identity/keys/secret-vault.ts';
import { SigningKeys } from '../../src/identity/keys/signing-keys.ts';
import { IDENTITY_MIGRATIONS } from '../../src/identity/migrations.ts';
import { type Engine, type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import { claimsOf, customFetchFor, headerOf } from './fixtures/relying-party.ts';

for (const engine of ['sqlite', 'postgres'] as Engine[]) {
  describe(`signing key rotation (${engine})`, () => {
    let f: IdentityFixture;
    let admin: string;
    before(async () => {
      f = await startIdentity(engine);
      admin = await f.adminToken();
    });
    after(() => f?.stop());

    it('publishes the next key, switches to it and keeps verifying tokens signed before the switch', async () => {
      const gw = (
        await f.api<{ clientId: string; clientSecret: string }>(
          'POST',
          '/admin/clients',
          { name: 'gw', kind: 'service', introspection: true },
          admin,
        )
      ).body;
      const rp = await oidc.discovery(
        new URL(f.issuer),
        gw.clientId,
        {},
        oidc.ClientSecretBasic(gw.clientSecret),
        customFetchFor(f),
      );
      const before = await oidc.clientCredentialsGrant(rp, {});
      const oldKid = headerOf(before.access_token)['kid'];
      const jwks = async () =>
        (await f.api<{ keys: { kid: string }[] }>('GET', '/oidc/jwks')).body.keys.map((k) => k.kid);
      assert.deepEqual(await jwks(), [oldKid]);

      const publish = await f.api<{ phase: string; keys: { kid: string; state: string }[] }>(
        'POST',
        '/admin/keys/rotate',
        {},
        admin,
      );
      assert.equal(publish.body.phase, 'publish');
      const next = publish.body.keys.find((k) => k.state === 'next')!.kid;
      assert.deepEqual(
        (await jwks()).sort(),
        [oldKid, next].sort(),
        'the next key is published before it signs anything',
      );
      assert.equal(
        headerOf((await oidc.clientCredentialsGrant(rp, {})).access_token)['kid'],
        oldKid,
        'the current key still signs',
      );

      const sw = await f.api<{ phase: string }>('POST', '/admin/keys/rotate', {}, admin);
      assert.equal(sw.body.phase, 'switch');
      const afterSwitch = await oidc.clientCredentialsGrant(rp, {});
      assert.equal(headerOf(afterSwitch.access_token)['kid'], next);
      assert.equal(
        (await oidc.tokenIntrospection(rp, before.access_token)).active,
        true,
        'tokens signed by the previous key stay valid',
      );
      assert.ok((await jwks()).includes(oldKid as string), 'the retired key stays published');
      assert.equal(
        (await f.api('GET', '/admin/users', undefined, admin)).status,
        200,
        'an admin token from before the switch still works',
      );

      const retire = await f.api<{ code: string }>('POST', '/admin/keys/rotate', { phase: 'retire' }, admin);
      assert.equal(retire.status, 409);
      assert.equal(retire.body.code, 'identity_key_rotation');
      assert.equal(claimsOf(afterSwitch.access_token)['iss'], f.issuer);
      assert.ok(f.audit.events.some((e) => e.action === 'identity.admin.keys.rotate'));
    });
  });
}

describe('signing keys at rest', () => {
  it('keeps its keys across restarts and refuses to start when the passphrase changed', async () => {
    const first = await startIdentity(
      'sqlite',
      { keyPassphrase: 'first passphrase, long enough' },
      { keep: true },
    );
    const kid = (await first.api<{ keys: { kid: string }[] }>('GET', '/oidc/jwks')).body.keys[0]!.kid;
    await first.stop();
    const again = await startIdentity(
      'sqlite',
      { keyPassphrase: 'first passphrase, long enough' },
      { home: first.home, keep: true },
    );
    assert.equal(
      (await again.api<{ keys: { kid: string }[] }>('GET', '/oidc/jwks')).body.keys[0]!.kid,
      kid,
      'the same key after a restart',
    );
    await again.stop();
    await assert.rejects(
      startIdentity('sqlite', { keyPassphrase: 'another passphrase entirely' }, { home: first.home }),
      {
        code: 'identity_kek_mismatch',
      },
    );
  });

  it('stores private keys sealed, retires keys only after their tokens expired, and refuses a wrong key-encryption key', async () => {
    const store = new SqliteStore({
      directory: mkdtempSync(join(tmpdir(), 'bw-keys-')),
      namespace: 'identity',
    });
    await store.migrate(IDENTITY_MIGRATIONS);
    const clock = new ManualClock();
    const box = createSecretBox(Buffer.alloc(32, 7));
    const keys = new SigningKeys({ store, vault: localVault(box), clock, retentionMs: 60_000 });
    await keys.ensure();
    await keys.ensure();
    assert.equal((await keys.list()).length, 1, 'one key on first start, not one per start');
    const [row] = await store.query<{ private_sealed: string }>('SELECT private_sealed FROM signing_keys');
    assert.doesNotMatch(row!.private_sealed, /"d"|"kty"/, 'no clear private key in the database');
    await assert.rejects(
      new SigningKeys({
        store,
        vault: localVault(createSecretBox(Buffer.alloc(32, 8))),
        clock,
        retentionMs: 0,
      }).privateJwks(),
    );
    await keys.rotate('publish');
    await keys.rotate('switch');
    await assert.rejects(keys.rotate('retire'), { code: 'identity_key_rotation' });
    clock.advance(61_000);
    assert.equal(await keys.rotate('retire'), 'retire');
    assert.deepEqual(
      (await keys.list()).map((k) => k.state),
      ['current'],
    );
    await assert.rejects(keys.rotate('switch'), { code: 'identity_key_rotation' });
    await store.close();
  });

  it('refuses a sealed value whose GCM tag was truncated, which would otherwise verify as its prefix', () => {
    const box = createSecretBox(Buffer.alloc(32, 7));
    // An empty plaintext seals to the tag alone; a GCM tag cut short is still a valid prefix of the full one.
    const [version, iv, data] = box.seal('', 'row-1').split('.');
    const tag = Buffer.from(data!, 'base64url');
    assert.equal(tag.length, 16);
    assert.equal(box.open(`${version}.${iv}.${data}`, 'row-1'), '', 'the untouched value opens');
    for (const bytes of [4, 8, 12, 13, 15]) {
      const truncated = `${version}.${iv}.${tag.subarray(0, bytes).toString('base64url')}`;
      assert.throws(() => box.open(truncated, 'row-1'), `a ${bytes}-byte tag is refused`);
    }
    const sealed = box.seal('totp seed', 'row-2').split('.');
    const body = Buffer.from(sealed[2]!, 'base64url');
    assert.throws(
      () =>
        box.open(
          `${sealed[0]}.${sealed[1]}.${body.subarray(0, body.length - 4).toString('base64url')}`,
          'row-2',
        ),
      'a value with its tag cut short is refused',
    );
  });
});
