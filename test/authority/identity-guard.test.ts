/**
 * The per-identity guard between issuing and revoking, on the real store of each engine: what it refuses
 * inside the issuing transaction, and that its lock really makes a second transaction wait.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { assertIssuable, lockIdentity } from '../../src/authority/store/identity-guard.ts';
import { AUTHORITY_MIGRATIONS } from '../../src/authority/store/migrations.ts';
import { Revocations } from '../../src/authority/store/revocations.ts';
import { openStore, type Store } from '../../src/core/index.ts';
import { authorityConfigFor, PG_URL } from './fixtures.ts';

const ID = 'spiffe://bulwark.local/service/guarded';
const OTHER = 'spiffe://bulwark.local/service/other';
const clock = { now: () => Date.now() };

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`authority identity guard on ${engine}`, () => {
    let store: Store;
    const namespace = engine === 'postgres' ? `authority_g${randomBytes(4).toString('hex')}` : 'authority';
    before(async () => {
      const config = authorityConfigFor(engine);
      store = openStore(config.storage, { home: config.home, namespace });
      await store.migrate(AUTHORITY_MIGRATIONS);
      const later = Date.now() + 3_600_000;
      for (const [serial, id] of [
        ['01', ID],
        ['02', ID],
        ['03', OTHER],
      ] as const) {
        await store.execute(
          'INSERT INTO authority_svid (serial, spiffe_id, issued_at, not_after, revoked_at) VALUES (?, ?, ?, ?, NULL)',
          [serial, id, Date.now(), later],
        );
      }
      await store.execute('UPDATE authority_svid SET revoked_at = ? WHERE serial = ?', [Date.now(), '02']);
    });
    after(async () => {
      await store.close();
      if (engine === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS bulwark_${namespace} CASCADE`);
        await client.end();
      }
    });

    const check = (spiffeId: string, serial?: string) =>
      store.transaction(async (tx) => {
        await lockIdentity(store.engine, tx, spiffeId);
        await assertIssuable(tx, spiffeId, serial);
      });
    const refused = { code: 'authority_svid_refused' };

    it('refuses a renewal whose presented SVID is revoked, unknown or of another identity', async () => {
      await check(ID, '01');
      await check(ID);
      await assert.rejects(check(ID, '02'), refused);
      await assert.rejects(check(ID, 'ff'), refused);
      await assert.rejects(check(ID, '03'), refused);
    });

    it('refuses every issuance for a revoked identity, and no other', async () => {
      const revocations = new Revocations(store, clock);
      assert.deepEqual(await revocations.revoke(OTHER, 'test'), ['03']);
      await assert.rejects(check(OTHER), refused);
      await check(ID, '01');
      assert.equal(await revocations.isRevoked('03'), true);
      assert.equal(await revocations.isRevoked('01'), false);
    });

    it('makes a second transaction on the same identity wait until the first one ends', async () => {
      const order: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const first = store.transaction(async (tx) => {
        await lockIdentity(store.engine, tx, ID);
        locked();
        await held;
        order.push('first');
      });
      await isLocked;
      const second = store.transaction(async (tx) => {
        await lockIdentity(store.engine, tx, ID);
        order.push('second');
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(order, [], 'the second transaction is still waiting for the lock');
      release();
      await Promise.all([first, second]);
      assert.deepEqual(order, ['first', 'second']);
    });
  });
}
