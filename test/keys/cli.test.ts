/** `bulwark keys ...` against a running `keys` over HTTPS. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ADMIN, type KeysHarness, startKeys } from './fixture.ts';

const run = promisify(execFile);
const NODE = process.execPath;
const HOST = new URL('./cli-host.ts', import.meta.url).pathname;

describe('bulwark keys CLI', () => {
  let h: KeysHarness;
  let conn: string[];
  before(async () => {
    h = await startKeys();
    conn = ['--url', h.url, '--ca', join(h.config.home, 'tls', 'ca.crt'), '--caller', ADMIN];
  });
  after(() => h.stop());

  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(NODE, [HOST, 'keys', ...args], {
        env: { ...process.env, BULWARK_HOME: h.config.home },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('creates, encrypts, rotates, rewraps, raises the minimum, trims and decrypts', async () => {
    const created = await cli(
      'create',
      'ops',
      '--allow',
      `encrypt=${ADMIN}`,
      '--allow',
      `decrypt=${ADMIN}`,
      '--allow',
      `rewrap=${ADMIN}`,
      ...conn,
    );
    assert.equal(created.code, 0, created.stderr);
    const enc = await cli('encrypt', 'ops', 'db password rotation note', '--context', 'tenant=t1', ...conn);
    const ciphertext = enc.stdout.trim();
    assert.match(ciphertext, /^bulwark:v1:/);
    assert.equal((await cli('rotate', 'ops', ...conn)).code, 0);
    const rewrapped = (
      await cli('rewrap', 'ops', ciphertext, '--context', 'tenant=t1', ...conn)
    ).stdout.trim();
    assert.match(rewrapped, /^bulwark:v2:/);
    assert.equal((await cli('config', 'ops', '--min-decryption-version', '2', ...conn)).code, 0);
    const old = await cli('decrypt', 'ops', ciphertext, '--context', 'tenant=t1', ...conn);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /keys_version_below_minimum/);
    const trimmed = JSON.parse(
      (await cli('trim', 'ops', '--min-available-version', '2', ...conn)).stdout,
    ) as Record<string, unknown>;
    assert.equal(trimmed['removed_versions'], 1);
    const dec = await cli('decrypt', 'ops', rewrapped, '--context', 'tenant=t1', ...conn);
    assert.equal(dec.stdout, 'db password rotation note\n');
    const list = await cli('list', ...conn);
    assert.match(list.stdout, /ops\s+aes256-gcm\s+v2 \(min decrypt v2\)/);
  });

  it('reports a refused caller with the error code and exit status 1', async () => {
    const res = await cli(
      'list',
      '--url',
      h.url,
      '--ca',
      join(h.config.home, 'tls', 'ca.crt'),
      '--caller',
      'spiffe://x/y',
    );
    assert.equal(res.code, 1);
    assert.match(res.stderr, /keys_forbidden/);
  });
});
