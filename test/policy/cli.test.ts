/** `bulwark policy ...` commands over real directories. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import {
  policyDiff,
  policyInit,
  policyTest,
  policyValidate,
  policyWhatCan,
  policyWhoCan,
  registerPolicyCommands,
} from '../../src/cli/commands/policy.ts';

const template = (name: string) => new URL(`../../src/policy/templates/${name}/`, import.meta.url).pathname;

function capture(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { out, text: () => chunks.join('') };
}

function copy(name: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'bulwark-policy-cli-')), name);
  cpSync(template(name), dir, { recursive: true });
  return dir;
}

describe('bulwark policy', () => {
  it('test passes on a template and exits 0', () => {
    const c = capture();
    assert.equal(policyTest(template('rbac-by-role'), c.out), 0);
    assert.match(c.text(), /8 passed, 0 failed/);
  });

  it('test exits 1 and names the case whose decision changed', () => {
    const dir = copy('rbac-by-role');
    const file = join(dir, 'policy.cedar');
    // Someone widens the editor rule to delete as well.
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        'action == Bulwark::Action::"write"',
        'action in [Bulwark::Action::"write", Bulwark::Action::"delete"]',
      ),
    );
    const c = capture();
    assert.equal(policyTest(dir, c.out), 1);
    assert.match(
      c.text(),
      /✗ rbac-by-role\.test\.yaml: an editor may not delete orders\n\s+expected deny, got allow by rbac-editor-write/,
    );
    assert.match(c.text(), /7 passed, 1 failed/);
  });

  it('test and validate print file:line for a broken directory and exit 1', () => {
    const dir = copy('tenant-isolation');
    writeFileSync(
      join(dir, 'extra.cedar'),
      '\n\npermit(principal, action, resource) when { resource.owner == principal };\n',
    );
    for (const command of [policyTest, policyValidate]) {
      const c = capture();
      assert.equal(command(dir, c.out), 1);
      assert.match(c.text(), /extra\.cedar:3:\d+: .*owner/);
    }
  });

  it('validate points at the line of an entity that violates the schema', () => {
    const dir = copy('tenant-isolation');
    const entities = JSON.parse(readFileSync(join(dir, 'entities.json'), 'utf8')) as unknown[];
    entities.splice(2, 0, {
      uid: { type: 'Bulwark::User', id: 'eve' },
      attrs: { tenant: 'acme' },
      parents: [],
    });
    // One entity per line after a header line: entity 3 sits on line 4.
    writeFileSync(
      join(dir, 'entities.json'),
      `[\n${entities.map((e) => JSON.stringify(e)).join(',\n')}\n]\n`,
    );
    const c = capture();
    assert.equal(policyValidate(dir, c.out), 1);
    assert.match(c.text(), /entities\.json:4:1: entity 3: .*eve/);
  });

  it('test rejects a malformed test file with its name', () => {
    const dir = copy('tenant-isolation');
    writeFileSync(
      join(dir, 'bad.test.yaml'),
      'cases:\n  - principal: alice\n    action: read\n    resource: Route::"x"\n    expect: allow\n',
    );
    const c = capture();
    assert.equal(policyTest(dir, c.out), 1);
    assert.match(c.text(), /policy_test_invalid: bad\.test\.yaml: case 1/);
  });

  it('who-can and what-can answer over the known entities', () => {
    const who = capture();
    assert.equal(
      policyWhoCan('delete', 'Route::"orders.list"', { dir: template('rbac-by-role') }, who.out),
      0,
    );
    assert.equal(
      who.text().trim(),
      'User::"ada"  Action::"delete"  Route::"orders.list"  (by rbac-admin-all)',
    );
    const what = capture();
    assert.equal(policyWhatCan('User::"vera"', { dir: template('rbac-by-role'), json: true }, what.out), 0);
    assert.deepEqual(JSON.parse(what.text()), [
      {
        principal: 'User::"vera"',
        action: 'Action::"read"',
        resource: 'Route::"orders.list"',
        policies: ['rbac-viewer-read'],
      },
    ]);
    const ctx = capture();
    policyWhoCan(
      'write',
      'Route::"orders.update"',
      { dir: template('abac-context'), context: '{"amr":["pwd","otp"]}' },
      ctx.out,
    );
    assert.match(ctx.text(), /User::"uma"/);
  });

  it('diff lists the requests whose decision changes and exits 2', () => {
    const dir = copy('rbac-by-role');
    const file = join(dir, 'policy.cedar');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('Bulwark::Role::"editor"', 'Bulwark::Role::"admin"'),
    );
    const c = capture();
    assert.equal(policyDiff(template('rbac-by-role'), dir, {}, c.out), 2);
    assert.match(c.text(), /allow -> deny {2}User::"eddie" {2}Action::"write" {2}Route::"orders.list"/);
    assert.match(c.text(), /1 request change/);
    const same = capture();
    assert.equal(policyDiff(template('rbac-by-role'), template('rbac-by-role'), {}, same.out), 0);
  });

  it('init copies a template that then passes its tests', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bulwark-init-')), 'mine');
    const c = capture();
    assert.equal(policyInit(dir, 'service-allow-list', c.out), 0);
    assert.equal(policyTest(dir, capture().out), 0);
    assert.equal(policyInit(dir, '../../etc', capture().out), 1);
  });

  it('registers its subcommands on the program', () => {
    const program = new Command();
    registerPolicyCommands(program);
    const policy = program.commands.find((c) => c.name() === 'policy');
    assert.deepEqual(policy?.commands.map((c) => c.name()).sort(), [
      'diff',
      'init',
      'templates',
      'test',
      'validate',
      'what-can',
      'who-can',
    ]);
  });
});
