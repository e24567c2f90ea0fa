import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildConfigSchema } from '../../src/core/config/schema.ts';
import { ConfigError, checkConfig, loadConfig } from '../../src/core/index.ts';

const schema = buildConfigSchema([
  {
    name: 'audit',
    defaultPort: 7301,
    properties: { origin: { type: 'string', default: 'bulwark', description: 'x' } },
  },
]);
const dir = mkdtempSync(join(tmpdir(), 'bulwark-config-'));
let n = 0;
function file(text: string): string {
  const path = join(dir, `c${++n}.yaml`);
  writeFileSync(path, text);
  return path;
}
const noEnv = {};

describe('configuration', () => {
  it('fills every key with its secure default when no file is given', () => {
    const config = loadConfig(schema, { env: noEnv, cwd: '/srv' });
    assert.equal(config.mode, 'production');
    assert.equal(config.home, '/srv/.bulwark');
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.tls.enabled, true);
    assert.equal(config.server.tls.minVersion, 'TLSv1.2');
    assert.equal(config.storage.engine, 'sqlite');
    assert.deepEqual(config.components['audit'], { enabled: true, port: 7301, origin: 'bulwark' });
  });

  it('freezes the result so no code can change configuration after start', () => {
    const config = loadConfig(schema, { env: noEnv });
    assert.throws(() => {
      (config.server.tls as { enabled: boolean }).enabled = false;
    }, TypeError);
  });

  it('reports a misspelt key, a wrong type and TLS off in production all at once', () => {
    const path = file(
      'mode: production\nlog:\n  levl: debug\nserver:\n  tls:\n    enabled: false\n  limits:\n    bodyBytes: big\n',
    );
    const { issues, config } = checkConfig(schema, { file: path, env: noEnv });
    assert.equal(config, undefined);
    assert.deepEqual(
      issues.map((i) => i.path),
      ['log.levl', 'server.limits.bodyBytes', 'server.tls.enabled'],
    );
    assert.match(issues[0]!.fix, /did you mean `level`/);
    assert.match(issues[1]!.message, /expected integer/);
    assert.match(issues[2]!.message, /production/);
  });

  it('allows plain HTTP in development mode only', () => {
    const path = file('mode: development\nserver:\n  tls:\n    enabled: false\n');
    assert.equal(loadConfig(schema, { file: path, env: noEnv }).server.tls.enabled, false);
  });

  it('refuses to listen on every interface in production', () => {
    const { issues } = checkConfig(schema, { file: file('server:\n  host: 0.0.0.0\n'), env: noEnv });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['server.host'],
    );
  });

  it('requires TLS to a PostgreSQL server that is not on loopback', () => {
    const path = file(
      'storage:\n  engine: postgres\n  postgres:\n    url: postgres://db.internal:5432/bulwark\n',
    );
    assert.deepEqual(
      checkConfig(schema, { file: path, env: noEnv }).issues.map((i) => i.path),
      ['storage.postgres.ssl'],
    );
  });

  it('rejects unknown keys inside component sections and enum values out of range', () => {
    const path = file(
      'components:\n  audit:\n    prot: 1\n  nosuch: {}\nserver:\n  tls:\n    minVersion: TLSv1.0\n',
    );
    const paths = checkConfig(schema, { file: path, env: noEnv }).issues.map((i) => i.path);
    assert.deepEqual(paths.sort(), ['components.audit.prot', 'components.nosuch', 'server.tls.minVersion']);
  });

  it('applies BULWARK_* environment overrides with types taken from the schema', () => {
    const config = loadConfig(schema, {
      env: {
        BULWARK_LOG__LEVEL: 'debug',
        BULWARK_SERVER__LIMITS__BODY_BYTES: '2048',
        BULWARK_COMPONENTS__AUDIT__ENABLED: 'false',
        BULWARK_COMPONENTS__AUDIT__ORIGIN: '12345',
        BULWARK_HOME: '/var/lib/bulwark',
        // Read by `bulwark gateway ...` itself, not a key: it must not make the configuration invalid.
        BULWARK_GATEWAY_TOKEN: 'an-admin-token',
      },
    });
    assert.equal(config.log.level, 'debug');
    assert.equal(config.server.limits.bodyBytes, 2048);
    assert.equal(config.components['audit']!.enabled, false);
    assert.equal(config.components['audit']!['origin'], '12345');
    assert.equal(config.home, '/var/lib/bulwark');
  });

  it('names an environment variable that matches no key, and a wrongly typed one', () => {
    const { issues } = checkConfig(schema, {
      env: { BULWARK_LOG__LEVLE: 'x', BULWARK_SERVER__SHUTDOWN_GRACE_MS: 'soon' },
    });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['BULWARK_LOG__LEVLE', 'server.shutdownGraceMs'],
    );
  });

  it('reports YAML syntax errors and duplicate keys with the line', () => {
    const { issues } = checkConfig(schema, {
      file: file('log:\n  level: info\n  level: debug\n'),
      env: noEnv,
    });
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.path, /:3:/);
    assert.match(issues[0]!.message, /DUPLICATE_KEY/);
  });

  it('says so when the file does not exist', () => {
    const { issues } = checkConfig(schema, { file: join(dir, 'missing.yaml'), env: noEnv });
    assert.equal(issues[0]!.message, 'file not found');
  });

  it('throws a ConfigError listing every issue from loadConfig', () => {
    const path = file('log:\n  level: loud\nserver:\n  host: 1\n');
    assert.throws(
      () => loadConfig(schema, { file: path, env: noEnv }),
      (err: unknown) =>
        err instanceof ConfigError && err.code === 'config_invalid' && err.issues.length === 2,
    );
  });
});
