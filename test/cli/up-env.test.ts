/** What each component process started by `bulwark up` inherits: no other component's secrets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withoutOthersSecrets } from '../../src/cli/commands/up.ts';

describe('bulwark up child environments', () => {
  const env = {
    PATH: '/usr/bin',
    KEYS_MASTER_KEY: 'bWFzdGVy',
    VAULT_KEY: 'custom-master',
    BULWARK_COMPONENTS__IDENTITY__KEY_PASSPHRASE: 'identity-secret-passphrase',
    BULWARK_COMPONENTS__AUTHORITY__KEY_PASSPHRASE: 'authority-secret-passphrase',
    BULWARK_LOG__LEVEL: 'warn',
  };
  const config = { components: { keys: { master: { envVar: 'VAULT_KEY' } } } };

  it("gives the gateway neither the master key nor another component's passphrase", () => {
    const gateway = withoutOthersSecrets(env, 'gateway', config);
    assert.deepEqual(Object.keys(gateway).sort(), ['BULWARK_LOG__LEVEL', 'KEYS_MASTER_KEY', 'PATH']);
    // KEYS_MASTER_KEY is not the configured variable here (VAULT_KEY is), so it is nobody's secret.
    assert.equal(gateway['VAULT_KEY'], undefined);
  });

  it('leaves keys and authority the master key, and each component its own passphrase', () => {
    assert.equal(withoutOthersSecrets(env, 'keys', config)['VAULT_KEY'], 'custom-master');
    const authority = withoutOthersSecrets(env, 'authority', config);
    assert.equal(authority['VAULT_KEY'], 'custom-master');
    assert.equal(authority['BULWARK_COMPONENTS__AUTHORITY__KEY_PASSPHRASE'], 'authority-secret-passphrase');
    assert.equal(authority['BULWARK_COMPONENTS__IDENTITY__KEY_PASSPHRASE'], undefined);
    const identity = withoutOthersSecrets(env, 'identity', { components: {} });
    assert.equal(identity['BULWARK_COMPONENTS__IDENTITY__KEY_PASSPHRASE'], 'identity-secret-passphrase');
    assert.equal(identity['KEYS_MASTER_KEY'], undefined);
  });
});
