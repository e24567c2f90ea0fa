import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { ManualClock } from '../../core/index.ts';
import { SqliteStore } from '../../core/storage/index.ts';
import { createSecretBox } from '../keys/key-encryption.ts';
import { localVault } from '../keys/secret-vault.ts';
import { IDENTITY_MIGRATIONS } from '../migrations.ts';
import { TotpFactor } from './totp.ts';

async function setup() {
  const store = new SqliteStore({ directory: ':memory:', namespace: 'identity' });
  await store.migrate(IDENTITY_MIGRATIONS);
  await store.execute(
    "INSERT INTO users (id, username, email, password_hash, status, created_at, updated_at) VALUES ('u1', 'pat', NULL, NULL, 'active', 0, 0)",
  );
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const factor = new TotpFactor({
    store,
    vault: localVault(createSecretBox(Buffer.alloc(32, 1))),
    clock,
    issuer: 'Bulwark',
  });
  const { secret } = await factor.begin('u1', 'pat');
  const code = (ms: number) =>
    new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: ms });
  return { store, clock, factor, code, secret };
}

describe('TOTP (RFC 6238)', () => {
  it('accepts the previous, current and next step and nothing further', async () => {
    for (const [offset, expected] of [
      [-30_000, true],
      [0, true],
      [30_000, true],
      [-60_000, false],
      [60_000, false],
    ] as const) {
      const { store, clock, factor, code } = await setup();
      assert.equal(await factor.verify('u1', code(clock.now() + offset)), expected, `offset ${offset}`);
      await store.close();
    }
  });

  it('never accepts a code twice, nor a code of an earlier step after a later one', async () => {
    const { store, clock, factor, code } = await setup();
    const now = code(clock.now());
    assert.equal(await factor.verify('u1', now), true);
    assert.equal(await factor.verify('u1', now), false, 'replay');
    assert.equal(await factor.verify('u1', code(clock.now() - 30_000)), false, 'older step');
    clock.advance(30_000);
    assert.equal(await factor.verify('u1', code(clock.now())), true, 'the next step works');
    assert.equal(await factor.status('u1'), 'confirmed');
    await store.close();
  });

  it('stores the seed sealed and rejects malformed codes', async () => {
    const { store, factor, secret } = await setup();
    const [row] = await store.query<{ secret_sealed: string }>('SELECT secret_sealed FROM totp');
    assert.ok(!row!.secret_sealed.includes(secret));
    for (const bad of ['', '12345', '1234567', 'abcdef', '12 456'])
      assert.equal(await factor.verify('u1', bad), false);
    await store.close();
  });
});
