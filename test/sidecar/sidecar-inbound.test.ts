/**
 * Attacks on the sidecar's inbound mTLS port with independent clients (curl, openssl s_client): every
 * certificate but the right one is refused; the right one reaches the app with the verified identity.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createWorkloadKey } from '../../src/core/mtls/workload-key.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { MESH_POLICY, sid } from '../sdk/mesh-fixtures.ts';
import { type ForgedFiles, foreignRootSigner, forgeLeaf, localRootSigner, writePair } from './cert-forge.ts';
import { meshSidecar, startApp } from './sidecar-fixtures.ts';

const run = promisify(execFile);

const POLICY = `${MESH_POLICY}
@id("auditor-calls-orders")
permit (principal == Bulwark::Service::"${sid('auditor')}", action == Bulwark::Action::"call",
        resource == Bulwark::Service::"${sid('orders')}");
`;

describe('sidecar inbound, attacked with curl and openssl', () => {
  let authority: TestAuthority;
  let app: Awaited<ReturnType<typeof startApp>>;
  let orders: Awaited<ReturnType<typeof meshSidecar>>;
  let port: number;
  let rootFile: string;
  let pin: string;

  const svidFiles = async (service: string): Promise<ForgedFiles> => {
    const client = authority.client();
    const key = await createWorkloadKey();
    const svid = await client.attest(await authority.joinToken(service), key.csrPem);
    await client.close();
    return writePair(svid.certChain, key.privateKeyPem);
  };

  /** curl with the sidecar's public key pinned (an SVID has no DNS/IP name for curl to check). */
  const curl = async (files?: ForgedFiles, headers: string[] = []) => {
    const args = ['-sS', '-k', '--pinnedpubkey', pin, '--max-time', '5', '-o', '-', '-w', '\n%{http_code}'];
    if (files) args.push('--cert', files.cert, '--key', files.key);
    for (const h of headers) args.push('-H', h);
    args.push(`https://127.0.0.1:${port}/orders/42`);
    try {
      const { stdout } = await run('curl', args);
      const lines = stdout.trimEnd().split('\n');
      return { exit: 0, status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n') };
    } catch (err) {
      const e = err as { code: number; stderr: string };
      return { exit: e.code, status: 0, body: e.stderr };
    }
  };

  /** openssl s_client sending one HTTP request; resolves to everything it printed. */
  const sClient = async (files?: ForgedFiles) => {
    const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', rootFile, '-quiet'];
    // -cert sends only the first certificate; -cert_chain adds the intermediate from the same file.
    if (files) args.push('-cert', files.cert, '-cert_chain', files.cert, '-key', files.key);
    const child = execFile('openssl', args, { timeout: 5000 });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    child.stdin?.end('GET /orders/s HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => child.on('close', resolve));
    return out;
  };

  before(async () => {
    authority = await startAuthority('sqlite');
    app = await startApp('orders');
    orders = await meshSidecar(authority, 'orders', { appPort: app.port }, POLICY);
    port = orders.sidecar.inboundPort;
    rootFile = join(authority.home, 'tls', 'ca.crt');
    const leaf = new X509Certificate(orders.identity.credentials.material.certChain);
    const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
    pin = `sha256//${createHash('sha256').update(spki).digest('base64')}`;
  });
  after(async () => {
    await orders.stop();
    app.server.close();
    await authority.stop();
  });

  it('accepts the right SVID and hands the app the verified identity, replacing a spoofed header', async () => {
    const frontend = await svidFiles('frontend');
    const res = await curl(frontend, [
      'x-bulwark-peer-id: spiffe://bulwark.local/service/admin',
      'x_bulwark_peer_id: spiffe://bulwark.local/service/admin',
    ]);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { app: 'orders', peer: sid('frontend') });
    const hit = app.hits.at(-1)!;
    assert.equal(hit.peer, sid('frontend'));
    assert.equal(hit.spoofCopies, 1, 'only the header the sidecar set reaches the app');
    assert.match(await sClient(frontend), /HTTP\/1\.1 200/);
  });

  it('refuses a client without a certificate (curl and openssl)', async () => {
    const before = app.hits.length;
    const res = await curl();
    assert.notEqual(res.exit, 0, `curl got ${res.status}`);
    assert.doesNotMatch(await sClient(), /HTTP\/1\.1 200/);
    assert.equal(app.hits.length, before);
  });

  it('refuses a certificate from another CA, even with the right SPIFFE ID', async () => {
    const forged = await forgeLeaf(await foreignRootSigner(), { uris: [sid('frontend')] });
    assert.notEqual((await curl(forged)).exit, 0);
    // The refusal shows as a TLS alert, or as a reset when the server drops the handshake first.
    assert.match(await sClient(forged), /alert|error|errno=104/i);
    assert.doesNotMatch(await sClient(forged), /HTTP\/1\.1 200/);
  });

  it('refuses an expired SVID from the right CA', async () => {
    const expired = await forgeLeaf(await localRootSigner(authority.home), {
      uris: [sid('frontend')],
      notBefore: new Date(Date.now() - 7_200_000),
      notAfter: new Date(Date.now() - 3_600_000),
    });
    assert.notEqual((await curl(expired)).exit, 0);
    assert.doesNotMatch(await sClient(expired), /HTTP\/1\.1 200/);
  });

  it('refuses a certificate from the right CA with two URI SANs', async () => {
    const two = await forgeLeaf(await localRootSigner(authority.home), {
      uris: [sid('frontend'), sid('admin')],
    });
    const res = await curl(two);
    assert.notEqual(res.status, 200);
    assert.doesNotMatch(await sClient(two), /HTTP\/1\.1 200/);
    assert.ok(orders.audit.events.some((e) => e.reason === 'mesh_svid_invalid'));
  });

  it('refuses an SVID of another trust domain signed by the right CA', async () => {
    const other = await forgeLeaf(await localRootSigner(authority.home), {
      uris: ['spiffe://evil.example/service/frontend'],
    });
    assert.notEqual((await curl(other)).status, 200);
    assert.ok(orders.audit.events.some((e) => e.reason === 'mesh_peer_wrong_trust_domain'));
  });

  it('denies a valid SVID whose SPIFFE ID the policy does not allow, and audits it', async () => {
    const intruder = await svidFiles('intruder');
    const res = await curl(intruder);
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).code, 'mesh_peer_forbidden');
    const event = orders.audit.events.find((e) => e.reason === 'mesh_peer_forbidden');
    assert.equal(event?.actor.id, sid('intruder'));
  });

  it('refuses a revoked SVID within seconds of the revocation', async () => {
    const auditor = await svidFiles('auditor');
    assert.equal((await curl(auditor)).status, 200, 'accepted before revocation');
    await authority.admin('POST', '/v1/revocations', { spiffeId: sid('auditor'), reason: 'key compromise' });
    const started = Date.now();
    let res = await curl(auditor);
    while (res.status === 200 && Date.now() - started < 5000) res = await curl(auditor);
    // A new connection from a revoked SVID is dropped right after the handshake; a kept-alive one gets 401.
    assert.notEqual(res.status, 200);
    assert.ok(Date.now() - started < 3000, `refused after ${Date.now() - started} ms`);
    assert.ok(orders.audit.events.some((e) => e.reason === 'mesh_peer_revoked'));
    assert.doesNotMatch(await sClient(auditor), /HTTP\/1\.1 200/);
  });
});
