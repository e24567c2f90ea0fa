/**
 * `bulwark up` end to end, as a newcomer runs it: every registered component starts as its own process,
 * `status --json` sees each one ready, a killed component comes back, and Ctrl-C (SIGINT) leaves no
 * process behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { PlatformStatus } from '../../src/cli/commands/status.ts';
import { COMPONENTS } from '../../src/cli/components.ts';
import { prepareOperatorIdentity, withOperatorCertificate } from '../../src/cli/operator-identity.ts';
import { isAlive } from '../../src/cli/runtime-state.ts';
import { waitFor } from '../fixtures/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/bulwark.js', import.meta.url));

describe('bulwark up', () => {
  it('runs every component supervised, reports status, restarts a killed one and stops all on Ctrl-C', async () => {
    assert.ok(COMPONENTS.length > 0, 'no component is registered in src/cli/components.ts');
    const home = mkdtempSync(join(tmpdir(), 'bulwark-up-'));
    const env: NodeJS.ProcessEnv = { ...process.env, BULWARK_HOME: home, BULWARK_LOG__LEVEL: 'warn' };
    for (const c of COMPONENTS) env[`BULWARK_COMPONENTS__${c.name.toUpperCase()}__PORT`] = '0';
    env['BULWARK_COMPONENTS__GATEWAY__PUBLIC_PORT'] = '0';
    const status = (): PlatformStatus => {
      const result = spawnSync(process.execPath, [BIN, 'status', '--json'], { env, encoding: 'utf8' });
      return JSON.parse(result.stdout) as PlatformStatus;
    };

    const up = spawn(process.execPath, [BIN, 'up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    up.stdout.on('data', (d) => {
      out += String(d);
    });
    up.stderr.on('data', (d) => {
      out += String(d);
    });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('Ctrl-C stops everything'), 'bulwark up to start', 30000).catch(
        (err: Error) => {
          throw new Error(`${err.message}; it printed:\n${out}`);
        },
      );
      for (const c of COMPONENTS) assert.match(out, new RegExp(`${c.name}\\s+running`));
      // The gateway's public entry point is listed beside its admin API, in the summary and in status.
      if (COMPONENTS.some((c) => c.name === 'gateway'))
        assert.match(out, /public: https:\/\/127\.0\.0\.1:\d+/);

      // The root's private key lives only sealed inside authority: its plain copy is gone from disk.
      assert.equal(existsSync(join(home, 'tls', 'ca.key')), false);
      assert.equal(existsSync(join(home, 'tls', 'ca.crt')), true);
      const first = status();
      assert.equal(first.running, true);
      assert.deepEqual(
        first.components.map((c) => [c.name, c.health]),
        COMPONENTS.map((c) => [c.name, 'ready']),
      );
      const pids = first.components.map((c) => c.pid!);
      const gateway = first.components.find((c) => c.name === 'gateway');
      if (gateway) assert.match(gateway.endpoints['public'] ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);

      // Components write security events to the audit component that `up` started: a denied decision at
      // `policy` must be found in `audit`'s log.
      const url = (name: string) => first.components.find((c) => c.name === name)?.url;
      if (url('policy') && url('audit')) {
        // Every component serves only mTLS: a caller without a certificate gets no further than health.
        const anonymous = new Agent({ connect: { ca: readFileSync(join(home, 'tls', 'ca.crt')) } });
        const refused = await request(`${url('policy')}/v1/decisions`, {
          dispatcher: anonymous,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        });
        assert.equal(refused.statusCode, 401);
        assert.equal(((await refused.body.json()) as { code: string }).code, 'mesh_peer_unauthenticated');
        // A browser (no SVID) still reaches identity's pages: an invitation link opens its page.
        if (url('identity')) {
          const page = await request(`${url('identity')}/invitation?token=${'x'.repeat(43)}`, {
            dispatcher: anonymous,
          });
          assert.match(await page.body.text(), /Ask your administrator for a new invitation/);
          assert.equal(page.statusCode, 400);
        }
        await anonymous.close();
        // The operator (who can read the authority's admin token) obtains an SVID, as the CLI does.
        await prepareOperatorIdentity(home);
        const dispatcher = new Agent({
          connect: withOperatorCertificate({ ca: readFileSync(join(home, 'tls', 'ca.crt')) }),
        });
        const decided = await request(`${url('policy')}/v1/decisions`, {
          dispatcher,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            principal: { type: 'Bulwark::User', id: 'mallory' },
            action: 'read',
            resource: { type: 'Bulwark::Route', id: 'GET /admin' },
          }),
        });
        assert.equal(decided.statusCode, 200);
        assert.equal(((await decided.body.json()) as { decision: string }).decision, 'deny');
        await waitFor(
          async () => {
            const res = await request(`${url('audit')}/audit/v1/records?action=policy.decision`, {
              dispatcher,
            });
            const { records } = (await res.body.json()) as { records: { target?: { id: string } }[] };
            return records.some((r) => r.target?.id === 'GET /admin');
          },
          'the denied decision to reach the audit log',
          15000,
        );
        await dispatcher.close();
      }

      // The operator changes the gateway with the CLI and no admin secret: its SVID carries the role.
      if (gateway) {
        const env2 = { ...env, BULWARK_GATEWAY_TOKEN: '' };
        const exported = spawnSync(process.execPath, [BIN, 'gateway', 'export'], {
          env: env2,
          encoding: 'utf8',
        });
        assert.equal(exported.status, 0, exported.stderr);
        assert.match(exported.stdout, /format_version/);
      }

      const victim = first.components[0]!;
      process.kill(victim.pid!, 'SIGKILL');
      const after = await waitFor(
        () => {
          const s = status();
          const c = s.components.find((x) => x.name === victim.name);
          return c && c.restarts === 1 && c.health === 'ready' ? s : undefined;
        },
        `${victim.name} to be restarted`,
        30000,
      );
      pids.push(...after.components.map((c) => c.pid!));

      up.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.match(out, /All components stopped/);
      await waitFor(() => pids.every((p) => !isAlive(p)), 'every component process to exit', 10000);
      assert.equal(existsSync(join(home, 'run', 'state.json')), false);
      assert.equal(status().running, false);
    } finally {
      if (up.exitCode === null) up.kill('SIGKILL');
    }
  });
});
