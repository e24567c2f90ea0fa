/**
 * The key hierarchy: master key providers, wrapped storage, rotation by command, schedule and usage.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  Keyring,
  KeyStore,
  LocalKeyProvider,
  loadKeyProvider,
  type MasterKeySettings,
} from '../../src/keys/index.ts';
import { ENGINES, inProcessKeys } from './fixture.ts';

const code = (err: unknown) => (err as { code?: string }).code;
const settings = (over: Partial<MasterKeySettings>): MasterKeySettings => ({
  provider: 'file',
  file: null,
  envVar: 'KEYS_MASTER_KEY',
  passphraseEnvVar: 'KEYS_MASTER_PASSPHRASE',
  scryptLogN: 15,
  ...over,
});

describe('master key providers', () => {
  it('creates an owner-only master key file on first start and reuses it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
    const a = await loadKeyProvider(settings({}), home, {}, randomBytes);
    const path = join(home, 'keys', 'master.key');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const wrapped = await a.wrap(Buffer.from('material'), 'label');
    const b = await loadKeyProvider(settings({}), home, {}, randomBytes);
    assert.equal((await b.unwrap(wrapped, 'label')).toString(), 'material');
  });

  it('refuses a master key file that group or others can read', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
    await loadKeyProvider(settings({}), home, {}, randomBytes);
    chmodSync(join(home, 'keys', 'master.key'), 0o644);
    await assert.rejects(
      loadKeyProvider(settings({}), home, {}, randomBytes),
      (e) => code(e) === 'keys_master_key_invalid',
    );
  });

  it('reads a base64 key from the environment and refuses a missing or short one', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
    const key = randomBytes(32).toString('base64');
    const p = await loadKeyProvider(
      settings({ provider: 'env' }),
      home,
      { KEYS_MASTER_KEY: key },
      randomBytes,
    );
    assert.equal(p.kind, 'env');
    await assert.rejects(
      loadKeyProvider(settings({ provider: 'env' }), home, {}, randomBytes),
      (e) => code(e) === 'keys_master_key_invalid',
    );
    await assert.rejects(
      loadKeyProvider(
        settings({ provider: 'env' }),
        home,
        { KEYS_MASTER_KEY: randomBytes(16).toString('base64') },
        randomBytes,
      ),
      (e) => code(e) === 'keys_master_key_invalid',
    );
  });

  it('derives the master key from a passphrase with scrypt, and a wrong passphrase cannot unwrap', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
    const s = settings({ provider: 'passphrase' });
    const right = await loadKeyProvider(
      s,
      home,
      { KEYS_MASTER_PASSPHRASE: 'correct horse battery staple' },
      randomBytes,
    );
    const kdf = JSON.parse(readFileSync(join(home, 'keys', 'master.kdf.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual([kdf['alg'], kdf['N'], kdf['r'], kdf['p']], ['scrypt', 2 ** 15, 8, 1]);
    assert.equal(statSync(join(home, 'keys', 'master.kdf.json')).mode & 0o777, 0o600);
    const wrapped = await right.wrap(Buffer.from('k'), 'l');
    const again = await loadKeyProvider(
      s,
      home,
      { KEYS_MASTER_PASSPHRASE: 'correct horse battery staple' },
      randomBytes,
    );
    assert.equal((await again.unwrap(wrapped, 'l')).toString(), 'k');
    const wrong = await loadKeyProvider(
      s,
      home,
      { KEYS_MASTER_PASSPHRASE: 'correct horse battery stapler' },
      randomBytes,
    );
    await assert.rejects(wrong.unwrap(wrapped, 'l'), (e) => code(e) === 'keys_unwrap_failed');
    await assert.rejects(
      loadKeyProvider(s, home, { KEYS_MASTER_PASSPHRASE: 'short' }, randomBytes),
      (e) => code(e) === 'keys_master_key_invalid',
    );
    // Someone lowers the stored cost to make guessing cheap: refused.
    writeFileSync(join(home, 'keys', 'master.kdf.json'), JSON.stringify({ ...kdf, N: 1024 }));
    await assert.rejects(
      loadKeyProvider(s, home, { KEYS_MASTER_PASSPHRASE: 'correct horse battery staple' }, randomBytes),
      (e) => code(e) === 'keys_master_key_invalid',
    );
  });
});

for (const engine of ENGINES) {
  describe(`key hierarchy on ${engine}`, () => {
    it('stores no key material in the clear and refuses to start with another master key', async () => {
      const k = await inProcessKeys(engine);
      try {
        for (const type of ['aes256-gcm', 'aes256-gcm-siv', 'hmac-sha256', 'ed25519'] as const) {
          await k.keyring.create({ name: `k-${type}`, type });
          await k.keyring.rotate(`k-${type}`);
        }
        await k.subjects.encrypt('alice', [{ plaintext: Buffer.from('x') }]);
        const rows = await k.store.query(
          'SELECT material FROM key_versions UNION ALL SELECT material FROM subject_keys',
        );
        const stored = Buffer.concat(rows.map((r) => Buffer.from(r['material'] as Uint8Array)));
        if (engine === 'sqlite') {
          const dir = join(k.home, 'data');
          for (const file of readdirSync(dir)) {
            const bytes = readFileSync(join(dir, file));
            for (const secret of k.secrets)
              assert.equal(bytes.indexOf(secret), -1, `a secret is in ${file} in the clear`);
            assert.equal(bytes.indexOf(k.masterKey), -1);
          }
        }
        for (const secret of k.secrets)
          assert.equal(stored.indexOf(secret), -1, 'a wrapped row holds its secret in the clear');
        const other = new Keyring({
          store: k.keyStore,
          provider: new LocalKeyProvider('env', randomBytes(32), randomBytes),
          clock: k.clock,
          random: randomBytes,
          cacheTtlMs: 0,
        });
        await assert.rejects(other.init(), (e) => code(e) === 'keys_master_key_invalid');
      } finally {
        await k.close();
      }
    });

    it('refuses wrapped material moved to another version (the label is bound)', async () => {
      const k = await inProcessKeys(engine);
      try {
        await k.keyring.create({ name: 'moved', type: 'aes256-gcm' });
        const [ct] = await k.transit.encrypt('moved', [{ plaintext: Buffer.from('v1 data') }]);
        await k.keyring.rotate('moved');
        // An attacker with write access to the store copies version 2's wrapped key over version 1.
        const [v2] = await k.store.query(
          'SELECT material FROM key_versions WHERE key_name = ? AND version = 2',
          ['moved'],
        );
        await k.store.execute('UPDATE key_versions SET material = ? WHERE key_name = ? AND version = 1', [
          Buffer.from(v2!['material'] as Uint8Array),
          'moved',
        ]);
        const fresh = new Keyring({
          store: new KeyStore(k.store),
          provider: k.provider,
          clock: k.clock,
          random: randomBytes,
          cacheTtlMs: 0,
        });
        const { Transit } = await import('../../src/keys/index.ts');
        const [result] = await new Transit(fresh, randomBytes).decrypt('moved', [{ ciphertext: ct! }]);
        assert.equal(result!.ok, false);
        if (!result!.ok) assert.equal(result!.error.code, 'keys_unwrap_failed');
      } finally {
        await k.close();
      }
    });

    it('rotates automatically before a version passes its usage limit, across batches', async () => {
      const k = await inProcessKeys(engine);
      try {
        await k.keyring.create({ name: 'limited', type: 'aes256-gcm', maxUsesPerVersion: 10 });
        const made: string[] = [];
        for (let i = 0; i < 9; i++)
          made.push(
            ...(await k.transit.encrypt('limited', [
              { plaintext: Buffer.from('a') },
              { plaintext: Buffer.from('b') },
              { plaintext: Buffer.from('c') },
            ])),
          );
        const versions = await k.keyring.versions('limited');
        assert.ok(versions.length >= 3, `expected automatic rotations, got ${versions.length} versions`);
        for (const v of versions) assert.ok(v.uses <= 10, `version ${v.version} used ${v.uses} times`);
        const counts = new Map<string, number>();
        for (const ct of made) counts.set(ct.split(':')[1]!, (counts.get(ct.split(':')[1]!) ?? 0) + 1);
        for (const [v, n] of counts) assert.ok(n <= 10, `${v} encrypted ${n} values`);
        await assert.rejects(
          k.transit.encrypt(
            'limited',
            Array.from({ length: 11 }, () => ({ plaintext: Buffer.from('x') })),
          ),
          (e) => code(e) === 'keys_invalid_version_setting',
        );
      } finally {
        await k.close();
      }
    });

    it('rotates on schedule once the period has passed, and not before', async () => {
      const k = await inProcessKeys(engine);
      try {
        await k.keyring.create({ name: 'daily', type: 'aes256-gcm', rotationPeriodMs: 86_400_000 });
        await k.keyring.create({ name: 'manual', type: 'aes256-gcm' });
        k.clock.advance(86_399_000);
        assert.deepEqual(await k.keyring.rotateDue(), []);
        k.clock.advance(1000);
        assert.deepEqual(await k.keyring.rotateDue(), ['daily']);
        assert.equal((await k.keyring.record('daily')).latestVersion, 2);
        assert.equal((await k.keyring.record('manual')).latestVersion, 1);
        assert.deepEqual(await k.keyring.rotateDue(), [], 'the period restarts at the rotation');
      } finally {
        await k.close();
      }
    });

    it('adds one version when two replicas rotate at the same moment', async () => {
      const k = await inProcessKeys(engine);
      try {
        await k.keyring.create({ name: 'race', type: 'aes256-gcm' });
        const replica = new Keyring({
          store: new KeyStore(k.store),
          provider: k.provider,
          clock: k.clock,
          random: randomBytes,
          cacheTtlMs: 0,
        });
        await replica.record('race');
        await k.keyring.record('race');
        const both = await Promise.all([k.keyring.rotate('race'), replica.rotate('race')]);
        const versions = (await k.keyring.versions('race')).map((v) => v.version);
        assert.ok(versions.length <= 3 && both.every((v) => versions.includes(v)));
      } finally {
        await k.close();
      }
    });
  });
}
