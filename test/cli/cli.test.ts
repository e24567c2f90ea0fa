/** The `bulwark` command as a user runs it: a real process, real files, real exit codes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/bulwark.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));

function bulwark(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', BULWARK_HOME: join(dir, 'home'), ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bulwark CLI', () => {
  it('prints three clear errors for a misspelt key, a wrong type and TLS off in production', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'mode: production\nlog:\n  levl: debug\nserver:\n  shutdownGraceMs: soon\n  tls:\n    enabled: false\n',
    );
    const { code, stdout } = bulwark(['config', 'check', file]);
    assert.equal(code, 1);
    assert.match(stdout, /3 problems/);
    assert.match(stdout, /✗ log\.levl: unknown key\n\s+fix: did you mean `level`\?/);
    assert.match(stdout, /✗ server\.shutdownGraceMs: expected integer/);
    assert.match(stdout, /✗ server\.tls\.enabled: TLS is switched off in production mode/);
  });

  it('accepts a valid file and warns about development-only settings', () => {
    const file = join(dir, 'dev.yaml');
    writeFileSync(file, 'mode: development\nserver:\n  tls:\n    enabled: false\n');
    const { code, stdout } = bulwark(['config', 'check', file]);
    assert.equal(code, 0);
    assert.match(stdout, /valid \(mode development\)/);
    assert.match(stdout, /! server\.tls\.enabled: .*development mode only/);
  });

  it('refuses to start with an invalid configuration and says why', () => {
    const { code, stderr } = bulwark(['status'], { BULWARK_SERVER__TLS__ENABLED: 'false' });
    assert.equal(code, 1);
    assert.match(stderr, /server\.tls\.enabled/);
  });

  it('reports not running as JSON with exit code 3', () => {
    const { code, stdout } = bulwark(['status', '--json']);
    assert.equal(code, 3);
    const status = JSON.parse(stdout) as { running: boolean; components: unknown[] };
    assert.equal(status.running, false);
    assert.deepEqual(status.components, []);
  });

  it('names the component it does not know', () => {
    const { code, stderr } = bulwark(['run', 'nosuch']);
    assert.equal(code, 1);
    assert.match(stderr, /component_unknown: no component named nosuch/);
  });

  it('prints its version and help for every command', () => {
    assert.match(bulwark(['version']).stdout, /^bulwark \d+\.\d+\.\d+ \(node v2\d/);
    for (const command of [[], ['up'], ['status'], ['run'], ['config'], ['config', 'check']]) {
      const { code, stdout } = bulwark([...command, '--help']);
      assert.equal(code, 0, `help for ${command.join(' ')}`);
      assert.match(stdout, /Usage: bulwark/);
    }
  });
});
