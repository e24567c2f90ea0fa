/**
 * Issue #8 item 5: identity seals its signing keys and TOTP seeds through the real `keys` component (HTTPS
 * on loopback), migrates values sealed by the local key-encryption key, survives restarts, fails clearly
 * (and loses nothing) while `keys` is down, and never writes a secret to a log line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { ManualClock } from '../../src/core/index.ts';
import { SqliteStore } from '../../src/core/storage/index.ts';
import { createSecretBox } from '../../src/identity/keys/key-encryption.ts';
import { resealStale } from '../../src/identity/keys/reseal.ts';
import { KeysVault, localVault } from '../../src/identity/keys/secret-vault.ts';
import { SigningKeys } from '../../src/identity/keys/signing-keys.ts';
import { TotpFactor } from '../../src/identity/mfa/totp.ts';
import { IDENTITY_MIGRATIONS } from '../../src/identity/migrations.ts';
import type { KeysClient } from '../../src/sdk/keys/index.ts';
import { ADMIN, type KeysHarness, keysClient, startKeys } from '../keys/fixture.ts';
import { startIdentity } from './fixtures/identity-server.ts';

const IDENTITY = 'spiffe://bulwark.test/ns/bulwark/identity';
const KEY = 'bulwark-identity';

const opened: KeysClient[] = [];
after(() => Promise.all(opened.map((c) => c.close().catch(() => undefined))));

function clientFor(keys: KeysHarness, caller = IDENTITY): KeysClient {
  // The client owns its connection pool (no injected dispatcher), so identity's close() ends it.
  const client = keysClient(keys, caller);
  opened.push(client);
  return client;
}

async function grantIdentityKey(keys: KeysHarness): Promise<void> {
  const res = await keys.call('POST', '/v1/keys', {
    name: KEY,
    type: 'aes256-gcm',
    acl: { datakey: [IDENTITY], decrypt: [IDENTITY] },
  });
  assert.equal(res.status, 201);
}

async function memoryStore() {
  const store = new SqliteStore({ directory: ':memory:', namespace: 'identity' });
  await store.migrate(IDENTITY_MIGRATIONS);
  for (const id of ['u1', 'u2']) {
    await store.execute(
      "INSERT INTO users (id, username, email, password_hash, status, created_at, updated_at) VALUES (?, ?, NULL, NULL, 'active', 0, 0)",
      [id, `user-${id}`],
    );
  }
  return store;
}

describe('identity secrets sealed through keys', () => {
  let keys: KeysHarness;
  before(async () => {
    keys = await startKeys();
    await grantIdentityKey(keys);
  });
  after(() => keys?.stop());

  it('round-trips TOTP seeds and signing keys, and refuses a seed copied to another user', async () => {
    const store = await memoryStore();
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const vault = new KeysVault({ client: clientFor(keys) });
    await vault.init();
    const totp = new TotpFactor({ store, vault, clock, issuer: 'Bulwark' });
    const { secret } = await totp.begin('u1', 'pat');
    const [row] = await store.query<{ secret_sealed: string }>(
      "SELECT secret_sealed FROM totp WHERE user_id = 'u1'",
    );
    assert.match(row!.secret_sealed, /^bulwark:env1:/, 'sealed through keys, not by the local key');
    assert.ok(!row!.secret_sealed.includes(secret));
    const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({
      timestamp: clock.now(),
    });
    assert.equal(await totp.verify('u1', code), true, 'the seed opens and the code verifies');

    // An attacker with write access to the table copies their own seed onto the victim's row.
    await totp.begin('u2', 'victim');
    await store.execute("UPDATE totp SET secret_sealed = ?, last_step = 0 WHERE user_id = 'u2'", [
      row!.secret_sealed,
    ]);
    await assert.rejects(totp.verify('u2', code), { code: 'identity_secret_unreadable' });

    const signing = new SigningKeys({ store, vault, clock, retentionMs: 60_000 });
    await signing.ensure();
    const [key] = await store.query<{ kid: string; private_sealed: string }>(
      'SELECT kid, private_sealed FROM signing_keys',
    );
    assert.match(key!.private_sealed, /^bulwark:env1:/);
    assert.equal((await signing.privateJwks()).keys[0]!.kty, 'EC');
    // A fresh vault (a restart: no cached data key) unwraps through keys.
    const fresh = new SigningKeys({
      store,
      vault: new KeysVault({ client: clientFor(keys) }),
      clock,
      retentionMs: 60_000,
    });
    assert.equal((await fresh.privateJwks()).currentKid, key!.kid);
    await assert.rejects(vault.open(key!.private_sealed, 'signing-key:another-kid'), {
      code: 'identity_secret_unreadable',
    });
    await store.close();
  });

  it('re-seals values of the local key-encryption key to keys, and the local vault refuses keys values', async () => {
    const store = await memoryStore();
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const box = createSecretBox(Buffer.alloc(32, 3));
    const local = localVault(box);
    await new SigningKeys({ store, vault: local, clock, retentionMs: 0 }).ensure();
    const { secret } = await new TotpFactor({ store, vault: local, clock, issuer: 'B' }).begin('u1', 'pat');
    const vault = new KeysVault({ client: clientFor(keys), legacy: box });
    assert.equal(await resealStale(store, vault), 2);
    assert.equal(await resealStale(store, vault), 0, 'a second pass has nothing left');
    const [totpRow] = await store.query<{ secret_sealed: string }>('SELECT secret_sealed FROM totp');
    assert.match(totpRow!.secret_sealed, /^bulwark:env1:/);
    assert.equal(await vault.open(totpRow!.secret_sealed, 'totp:u1'), secret);
    await assert.rejects(local.open(totpRow!.secret_sealed, 'totp:u1'), {
      code: 'identity_keys_unavailable',
    });
    await store.close();
  });

  it('creates its key on first use when its caller is a keys admin, and names the prerequisite otherwise', async () => {
    const outsider = new KeysVault({
      client: clientFor(keys, 'spiffe://bulwark.test/ns/x/identity'),
      key: 'id-b',
    });
    await assert.rejects(outsider.init(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'identity_keys_unavailable');
      assert.match(err.message, /bulwark keys create id-b/);
      return true;
    });
    const admin = new KeysVault({ client: clientFor(keys, ADMIN), key: 'id-c' });
    await admin.init();
    const created = await keys.call('GET', '/v1/keys/id-c');
    assert.deepEqual((created.body['acl'] as Record<string, string[]>)['decrypt'], [ADMIN]);
    assert.equal(await admin.open(await admin.seal('x', 'row'), 'row'), 'x');
  });
});

describe('identity component with keys', () => {
  it('migrates at start, re-opens keys-sealed signing keys after a restart, fails clearly while keys is down and loses nothing', async () => {
    const keysHome = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
    // A fixed namespace: the restarted keys must open the same SQLite file.
    let keys = await startKeys({ home: keysHome, namespace: 'keys_vault' });
    const masterKey = keys.masterKey;
    await grantIdentityKey(keys);
    const withKeys = (k: KeysHarness) => ({ keys: () => clientFor(k) });

    // First start without keys (local key-encryption key), as an existing installation would be.
    const first = await startIdentity('sqlite', {}, { keep: true });
    const jwks = async (f: { api: typeof first.api }) =>
      (await f.api<{ keys: { kid: string }[] }>('GET', '/oidc/jwks')).body.keys.map((k) => k.kid);
    const kids = await jwks(first);
    await first.stop();

    const second = await startIdentity(
      'sqlite',
      {},
      { home: first.home, keep: true, identity: withKeys(keys), captureLogs: true },
    );
    assert.deepEqual(await jwks(second), kids, 'the same signing key, now sealed through keys');
    const token = await second.adminToken();
    assert.equal((await second.api('GET', '/admin/users', undefined, token)).status, 200);
    await second.stop();
    const sealed = await sealedKeys(first.home);
    assert.ok(
      sealed.every((v) => v.startsWith('bulwark:env1:')),
      'every row re-sealed to keys',
    );

    // Restart: a new process has no cached data key; it unwraps through keys.
    const third = await startIdentity(
      'sqlite',
      {},
      { home: first.home, keep: true, identity: withKeys(keys) },
    );
    assert.deepEqual(await jwks(third), kids);
    assert.ok(await third.adminToken(), 'tokens are signed with the re-opened key');
    await third.stop();

    // keys down: identity refuses to start with a clear error, and the stored rows are untouched.
    const down = clientFor(keys);
    await keys.stop();
    await assert.rejects(
      startIdentity('sqlite', {}, { home: first.home, keep: true, identity: { keys: () => down } }),
      { code: 'identity_keys_unavailable' },
    );
    assert.deepEqual(await sealedKeys(first.home), sealed, 'nothing was lost or rewritten');

    keys = await startKeys({ home: keysHome, masterKey, namespace: 'keys_vault' });
    const back = await startIdentity(
      'sqlite',
      {},
      { home: first.home, keep: true, identity: withKeys(keys) },
    );
    assert.deepEqual(await jwks(back), kids, 'everything opens again once keys is back');
    await back.stop();
    await keys.stop();

    for (const line of [...second.logs, ...keys.logs]) {
      assert.doesNotMatch(
        line,
        /"d":"|PRIVATE KEY|bulwark:env1:/,
        'no key material or sealed value in a log',
      );
    }
    assert.ok(second.logs.some((l) => l.includes('identity secrets are sealed through keys')));
  });

  it('rejects a seal while keys is down once the cached data key expired, keeping the previous value', async () => {
    const keys = await startKeys();
    await grantIdentityKey(keys);
    const store = await memoryStore();
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    let now = 0;
    const vault = new KeysVault({ client: clientFor(keys), ttlMs: 1000, now: () => now });
    await vault.init();
    const totp = new TotpFactor({ store, vault, clock, issuer: 'B' });
    await totp.begin('u1', 'pat');
    const [before] = await store.query<{ secret_sealed: string }>('SELECT secret_sealed FROM totp');
    await keys.stop();
    now += 2000;
    await assert.rejects(totp.begin('u1', 'pat'), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'identity_keys_unavailable');
      assert.equal(err.status, 503);
      return true;
    });
    const [afterRow] = await store.query<{ secret_sealed: string }>('SELECT secret_sealed FROM totp');
    assert.equal(afterRow!.secret_sealed, before!.secret_sealed, 'the enrolment that was there stays');
    await store.close();
  });
});

async function sealedKeys(home: string): Promise<string[]> {
  const store = new SqliteStore({ directory: join(home, 'data'), namespace: 'identity' });
  try {
    return (
      await store.query<{ v: string }>('SELECT private_sealed AS v FROM signing_keys ORDER BY kid')
    ).map((r) => r.v);
  } finally {
    await store.close();
  }
}
