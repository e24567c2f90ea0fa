/** `bulwark identity ...` against the running component, found through the runtime state file. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { registerIdentityCommands } from '../../src/cli/commands/identity.ts';
import { writeState } from '../../src/cli/runtime-state.ts';
import { type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';

describe('bulwark identity CLI', () => {
  let f: IdentityFixture;
  let file: string;
  before(async () => {
    f = await startIdentity('sqlite');
    file = join(f.home, 'cli.yaml');
    writeFileSync(file, JSON.stringify({ home: f.home, log: { level: 'silent' } }));
    writeState({
      supervisorPid: process.pid,
      startedAt: new Date().toISOString(),
      home: f.home,
      caFile: join(f.home, 'tls', 'ca.crt'),
      components: [
        {
          name: 'identity',
          status: 'running',
          pid: process.pid,
          url: f.url,
          restarts: 0,
          startedAt: Date.now(),
          lastExit: null,
        },
      ],
    });
  });
  after(() => f?.stop());

  async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
    const out: string[] = [];
    const err: string[] = [];
    let code = 0;
    const sink = (into: string[]) =>
      new Writable({ write: (chunk, _enc, done) => done(void into.push(String(chunk))) });
    const program = new Command().option('-c, --config <file>').exitOverride();
    registerIdentityCommands(program, { out: sink(out), err: sink(err), exit: (c) => (code = c) });
    await program.parseAsync(['node', 'bulwark', '-c', file, ...args]);
    return { out: out.join(''), err: err.join(''), code };
  }

  it('creates a user with an invitation, lists it, and rotates the signing keys in phases', async () => {
    const created = await cli(
      'identity',
      'users',
      'create',
      'erin',
      '--email',
      'erin@example.test',
      '--json',
    );
    const user = JSON.parse(created.out) as { id: string; invitation: { url: string } };
    assert.match(user.invitation.url, /\/invitation\?token=[A-Za-z0-9_-]{43}$/);
    assert.match((await cli('identity', 'users', 'list')).out, /erin\s+invited/);
    assert.match((await cli('identity', 'rotate-keys')).out, /^publish done/);
    assert.match((await cli('identity', 'rotate-keys')).out, /^switch done/);
    const keys = JSON.parse((await cli('identity', 'keys', '--json')).out) as { keys: { state: string }[] };
    assert.deepEqual(keys.keys.map((k) => k.state).sort(), ['current', 'retired']);
    const early = await cli('identity', 'rotate-keys', '--phase', 'retire');
    assert.equal(early.code, 1);
    assert.match(early.err, /identity_key_rotation/);
  });

  it('registers a service account and prints its secret once', async () => {
    const res = JSON.parse(
      (await cli('identity', 'clients', 'create', 'billing', '--kind', 'service', '--json')).out,
    ) as { clientId: string; clientSecret: string };
    assert.ok(res.clientSecret.length >= 43);
    const list = await cli('identity', 'clients', 'list');
    assert.match(list.out, new RegExp(res.clientId));
    assert.ok(!list.out.includes(res.clientSecret));
  });
});
