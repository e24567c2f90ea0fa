/** `bulwark gateway` offline commands: validate, api-key, admin-token. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { gatewayAdminToken, gatewayApiKey, gatewayValidate } from '../../src/cli/commands/gateway.ts';
import { tempHome } from './fixtures/harness.ts';

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => {
    text += d.toString();
  });
  return { out, text: () => text };
}

describe('bulwark gateway (offline)', () => {
  test('validate accepts a good file and names each problem of a bad one', async () => {
    const dir = tempHome();
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      stringify({
        format_version: '1',
        services: [{ name: 'orders', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'orders', service: 'orders', paths: ['/orders/:id'] }],
      }),
    );
    const ok = capture();
    assert.equal(await gatewayValidate(good, ok.out), 0);
    assert.match(ok.text(), /valid, 1 services, 1 routes/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      stringify({
        format_version: '1',
        services: [{ name: 'orders', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'orders', service: 'payments', paths: ['/orders'], extra: true }],
      }),
    );
    const ko = capture();
    assert.equal(await gatewayValidate(bad, ko.out), 1);
    assert.match(ko.text(), /must NOT have additional properties \(extra\)/);
    const badCidr = join(dir, 'cidr.yaml');
    writeFileSync(
      badCidr,
      stringify({
        format_version: '1',
        services: [{ name: 'orders', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'orders', service: 'orders', paths: ['/orders'], ipAllow: ['10.0.0.0/99'] }],
      }),
    );
    assert.equal(await gatewayValidate(badCidr, capture().out), 1);
  });

  test('api-key prints a key once and the SHA-256 the route file stores', () => {
    const c = capture();
    assert.equal(gatewayApiKey('batch', c.out), 0);
    const key = /: (bwk_[A-Za-z0-9_-]+)/.exec(c.text())?.[1] as string;
    const hash = /sha256:([0-9a-f]{64})/.exec(c.text())?.[1];
    assert.equal(hash, createHash('sha256').update(key).digest('hex'));
  });

  test('admin-token refuses an unknown role', () => {
    assert.equal(gatewayAdminToken('root', capture().out), 1);
    assert.equal(gatewayAdminToken('operator', capture().out), 0);
  });
});
