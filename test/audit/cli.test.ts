/** `bulwark audit prove`, `check-proof` and `verify` through the commander program. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { auditProve, registerAuditCommands } from '../../src/cli/commands/audit.ts';
import { type AuditFixture, call, event, startAudit } from './fixtures/audit-server.ts';

describe('bulwark audit commands', () => {
  let f: AuditFixture;
  let flags: string[];
  const program = () => {
    const p = new Command().name('bulwark').option('-c, --config <file>').exitOverride();
    registerAuditCommands(p);
    return p;
  };
  before(async () => {
    f = await startAudit('sqlite', { settings: { checkpointIntervalMs: 20 } });
    flags = [
      '--url',
      f.url,
      '--ca',
      join(f.home, 'tls', 'ca.crt'),
      '--key',
      join(f.home, 'audit', 'log.vkey'),
      // This log's anchors, not those of a platform that may have run in the working directory.
      '--anchors',
      join(f.home, 'audit', 'anchor'),
    ];
  });
  after(() => f.stop());

  it('writes a record proof bundle with `prove` that `check-proof` accepts offline', async () => {
    const e = event();
    await call(f, 'POST', '/audit/v1/records', { records: [e] });
    const out = join(f.home, 'r.tlog-proof');
    await program().parseAsync(['node', 'bulwark', 'audit', 'prove', e['id'] as string, ...flags, '-o', out]);
    assert.match(readFileSync(out, 'utf8'), /^c2sp\.org\/tlog-proof@v1\n/);
    await program().parseAsync([
      'node',
      'bulwark',
      'audit',
      'check-proof',
      out,
      '--key',
      join(f.home, 'audit', 'log.vkey'),
    ]);
    writeFileSync(out, readFileSync(out, 'utf8').replace(/^index \d+$/m, 'index 99'));
    await assert.rejects(
      program().parseAsync([
        'node',
        'bulwark',
        'audit',
        'check-proof',
        out,
        '--key',
        join(f.home, 'audit', 'log.vkey'),
      ]),
      { code: 'inclusion_failed' },
    );
  });

  it('`prove` refuses a valid proof of another record, as a lying service would hand out', async () => {
    const [asked, other] = [event(), event()];
    await call(f, 'POST', '/audit/v1/records', { records: [asked, other] });
    const otherProof = await call(f, 'GET', `/audit/v1/records/${other['id']}/proof`);
    assert.equal(otherProof.status, 200);
    const liar = createServer((_req, res) => res.end(otherProof.text));
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', () => r()));
    try {
      const target = {
        url: `http://127.0.0.1:${(liar.address() as AddressInfo).port}`,
        vkey: readFileSync(join(f.home, 'audit', 'log.vkey'), 'utf8'),
        anchors: [],
      };
      await assert.rejects(auditProve(target, asked['id'] as string), { code: 'record_mismatch' });
    } finally {
      liar.close();
    }
  });

  it('sets exit code 0 when `verify` finds the log intact', async () => {
    process.exitCode = undefined;
    await program().parseAsync(['node', 'bulwark', 'audit', 'verify', ...flags, '--json']);
    assert.equal(process.exitCode, 0);
    process.exitCode = undefined;
  });
});
