/**
 * With the platform's master key configured (the root of keys' hierarchy), authority seals its CA keys
 * under it: one root secret for the deployment. Another master key cannot open them, and authority keeps
 * no seal of its own.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { authorityComponent } from '../../src/authority/index.ts';
import {
  buildConfigSchema,
  loadConfig,
  MemoryAuditSink,
  openStore,
  runComponent,
} from '../../src/core/index.ts';
import { KEYS_CONFIG } from '../../src/keys/config.ts';

function platformConfig(home: string) {
  const schema = buildConfigSchema([
    { name: 'authority', defaultPort: 7305, properties: authorityComponent.configProperties },
    { name: 'keys', defaultPort: 7303, properties: KEYS_CONFIG },
  ]);
  return loadConfig(schema, {
    env: { BULWARK_HOME: home, BULWARK_LOG__LEVEL: 'silent', BULWARK_STORAGE__ENGINE: 'sqlite' },
  });
}

describe('authority CA keys under the master key', () => {
  it('seals them with the master-key provider, and refuses to start with another master key', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bulwark-master-'));
    const start = () =>
      runComponent(authorityComponent, platformConfig(home), { port: 0, audit: new MemoryAuditSink() });
    const first = await start();
    await first.stop();
    assert.ok(existsSync(join(home, 'keys', 'master.key')), 'the master key file was created');
    assert.equal(existsSync(join(home, 'authority', 'seal.key')), false, 'authority kept no seal of its own');
    const store = openStore(platformConfig(home).storage, { home, namespace: 'authority' });
    const rows = await store.query<{ sealed_key: string }>('SELECT sealed_key FROM authority_ca');
    await store.close();
    assert.ok(rows.length >= 2);
    for (const row of rows) {
      assert.match(row.sealed_key, /^v2\./);
      assert.doesNotMatch(row.sealed_key, /PRIVATE KEY/);
    }
    // Another master key: the intermediate that signs the authority's own SVID at start cannot be opened.
    writeFileSync(join(home, 'keys', 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
      mode: 0o600,
    });
    await assert.rejects(start(), { code: 'authority_key_sealed' });
  });
});
