/** `bulwark authority join-token` and `bulwark sidecar` as processes, against a running authority. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { writeState } from '../../src/cli/runtime-state.ts';
import { MESH_POLICY, sid } from '../sdk/mesh-fixtures.ts';
import { startApp } from '../sidecar/sidecar-fixtures.ts';
import { startAuthority, type TestAuthority } from './fixtures.ts';

const run = promisify(execFile);
const NODE = 'node_modules/.bin/node';
const HOST = 'test/authority/cli-host.ts';

describe('mesh CLI', () => {
  let authority: TestAuthority;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    authority = await startAuthority('sqlite');
    writeState({
      supervisorPid: process.pid,
      startedAt: new Date().toISOString(),
      home: authority.home,
      caFile: join(authority.home, 'tls', 'ca.crt'),
      components: [
        {
          name: 'authority',
          status: 'running',
          pid: process.pid,
          url: authority.url,
          restarts: 0,
          startedAt: Date.now(),
          lastExit: null,
        },
      ],
    });
    env = { ...process.env, BULWARK_HOME: authority.home, BULWARK_LOG__LEVEL: 'silent' };
  });
  after(() => authority.stop());

  it('prints a one-time join token bound to the SPIFFE ID of the service', async () => {
    const { stdout } = await run(NODE, [HOST, 'authority', 'join-token', 'orders', '--json'], { env });
    const grant = JSON.parse(stdout) as { token: string; spiffeId: string };
    assert.equal(grant.spiffeId, sid('orders'));
    assert.match(grant.token, /^bjt_[A-Za-z0-9_-]{43}$/);
  });

  it('runs a sidecar from a join token that serves the app over mTLS to an allowed caller with its verified identity', async () => {
    const app = await startApp('orders');
    const { stdout } = await run(NODE, [HOST, 'authority', 'join-token', 'orders'], { env });
    const token = stdout.split('\n')[0]!;
    const policyFile = join(authority.home, 'mesh.cedar');
    writeFileSync(policyFile, MESH_POLICY);
    const child = spawn(
      NODE,
      [
        HOST,
        'sidecar',
        '--app-port',
        String(app.port),
        '--port',
        '0',
        '--admin-port',
        '-1',
        '--policy',
        policyFile,
      ],
      { env: { ...env, MESH_JOIN_TOKEN: token } },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out);
        });
        child.stderr.on('data', (d) => (out += d));
        child.once('exit', (code) => reject(new Error(`sidecar exited ${code}: ${out}`)));
      });
      assert.match(line, new RegExp(`sidecar for ${sid('orders').replaceAll('/', '\\/')}`));
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
      // A frontend SVID, then curl with the sidecar's key pinned.
      const client = authority.client();
      const { createWorkloadKey } = await import('../../src/core/mtls/workload-key.ts');
      const key = await createWorkloadKey();
      const svid = await client.attest(await authority.joinToken('frontend'), key.csrPem);
      await client.close();
      const cert = join(authority.home, 'frontend.pem');
      const keyFile = join(authority.home, 'frontend.key');
      writeFileSync(cert, svid.certChain);
      writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
      const tls = await import('node:tls');
      const served = await new Promise<string>((resolve, reject) => {
        const s = tls.connect(
          {
            port,
            host: '127.0.0.1',
            rejectUnauthorized: false,
            cert: svid.certChain,
            key: key.privateKeyPem,
          },
          () => {
            resolve(s.getPeerCertificate().raw.toString('base64'));
            s.destroy();
          },
        );
        s.once('error', reject);
      });
      const spki = new X509Certificate(Buffer.from(served, 'base64')).publicKey.export({
        type: 'spki',
        format: 'der',
      });
      const pin = `sha256//${createHash('sha256').update(spki).digest('base64')}`;
      const { stdout: body } = await run('curl', [
        '-sS',
        '-k',
        '--pinnedpubkey',
        pin,
        '--cert',
        cert,
        '--key',
        keyFile,
        `https://127.0.0.1:${port}/x`,
      ]);
      assert.deepEqual(JSON.parse(body), { app: 'orders', peer: sid('frontend') });
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      app.server.close();
    }
  });
});
