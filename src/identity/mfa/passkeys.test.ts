/**
 * Server-side WebAuthn checks, driven by a software authenticator (test/identity/fixtures).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AT, SoftAuthenticator, UP } from '../../../test/identity/fixtures/soft-authenticator.ts';
import { ManualClock } from '../../core/index.ts';
import { SqliteStore } from '../../core/storage/index.ts';
import { IDENTITY_MIGRATIONS } from '../migrations.ts';
import { Passkeys } from './passkeys.ts';

const ORIGIN = 'https://127.0.0.1:7304';
const RP_ID = '127.0.0.1';

async function setup() {
  const store = new SqliteStore({ directory: ':memory:', namespace: 'identity' });
  await store.migrate(IDENTITY_MIGRATIONS);
  await store.execute(
    "INSERT INTO users (id, username, email, password_hash, status, created_at, updated_at) VALUES ('u1', 'pat', NULL, NULL, 'active', 0, 0)",
  );
  const passkeys = new Passkeys({
    store,
    clock: new ManualClock(Date.now()),
    settings: () => ({ rpId: RP_ID, rpName: 'Bulwark', origin: ORIGIN }),
  });
  return { store, passkeys };
}

describe('passkeys', () => {
  it('registers a credential only with user verification, the right origin and a fresh challenge', async () => {
    const { store, passkeys } = await setup();
    const user = { id: 'u1', username: 'pat' };
    const device = new SoftAuthenticator(ORIGIN);
    let options = await passkeys.registrationOptions('c1', user);
    assert.equal(options.authenticatorSelection?.userVerification, 'required');
    assert.equal(
      await passkeys.register('c1', 'u1', device.register(options.challenge, { flags: UP | AT })),
      false,
      'no UV flag',
    );
    options = await passkeys.registrationOptions('c1', user);
    assert.equal(
      await passkeys.register(
        'c1',
        'u1',
        device.register(options.challenge, { origin: 'https://evil.test' }),
      ),
      false,
      'wrong origin',
    );
    options = await passkeys.registrationOptions('c1', user);
    assert.equal(await passkeys.register('c1', 'u1', device.register(options.challenge)), true);
    assert.equal(
      await passkeys.register('c1', 'u1', device.register(options.challenge)),
      false,
      'a challenge is used once',
    );
    assert.equal(await passkeys.count('u1'), 1);
    await store.close();
  });

  it('authenticates only with user verification, a growing counter and a single-use challenge', async () => {
    const { store, passkeys } = await setup();
    const device = new SoftAuthenticator(ORIGIN);
    const reg = await passkeys.registrationOptions('c2', { id: 'u1', username: 'pat' });
    assert.ok(await passkeys.register('c2', 'u1', device.register(reg.challenge)));
    let options = await passkeys.authenticationOptions('a1', 'u1');
    assert.equal(options.userVerification, 'required');
    assert.equal(
      await passkeys.authenticate('a1', 'u1', device.authenticate(options.challenge, { flags: UP })),
      false,
      'no UV flag',
    );
    options = await passkeys.authenticationOptions('a1', 'u1');
    const good = device.authenticate(options.challenge);
    assert.equal(await passkeys.authenticate('a1', 'u1', good), true);
    assert.equal(await passkeys.authenticate('a1', 'u1', good), false, 'the same assertion again is refused');
    options = await passkeys.authenticationOptions('a1', 'u1');
    assert.equal(
      await passkeys.authenticate('a1', 'u1', device.authenticate(options.challenge, { keepCounter: true })),
      false,
      'a counter that did not grow (cloned key)',
    );
    options = await passkeys.authenticationOptions('a1', 'u1');
    assert.equal(
      await passkeys.authenticate('a1', 'someone-else', device.authenticate(options.challenge)),
      false,
      'another user cannot use the ceremony',
    );
    await store.close();
  });
});
