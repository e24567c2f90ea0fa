/** Issuance, join tokens, renewal, revocation and discovery against a real authority on both engines. */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { Agent, request } from 'undici';
import { openStore } from '../../src/core/index.ts';
import { RotatingCredentials, svidMaterial } from '../../src/core/mtls/index.ts';
import { createWorkloadKey } from '../../src/core/mtls/workload-key.ts';
import { startAuthority, type TestAuthority } from './fixtures.ts';

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`authority SVIDs on ${engine}`, () => {
    let authority: TestAuthority;
    before(async () => {
      authority = await startAuthority(engine);
    });
    after(() => authority.stop());

    const attest = async (service: string) => {
      const client = authority.client();
      const key = await createWorkloadKey();
      const svid = await client.attest(await authority.joinToken(service), key.csrPem);
      await client.close();
      return { svid, key };
    };

    it('issues a strictly conformant one-hour X.509-SVID that chains to the local root', async () => {
      const { svid } = await attest('orders');
      assert.equal(svid.spiffeId, 'spiffe://bulwark.local/service/orders');
      const [leafPem, intermediatePem] = svid.certChain
        .split(/(?<=-----END CERTIFICATE-----)\s*/)
        .filter(Boolean);
      const leaf = new x509.X509Certificate(leafPem!);
      const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
      assert.deepEqual(
        san.names.items.map((n) => [n.type, n.value]),
        [['url', 'spiffe://bulwark.local/service/orders']],
      );
      const basic = leaf.getExtension(x509.BasicConstraintsExtension)!;
      assert.equal(basic.ca, false);
      const usage = leaf.getExtension(x509.KeyUsagesExtension)!;
      assert.equal(usage.usages, x509.KeyUsageFlags.digitalSignature);
      assert.equal(usage.critical, true);
      const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension)!;
      assert.deepEqual(
        [...eku.usages].sort(),
        [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth].sort(),
      );
      const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
      assert.ok(Math.abs(lifetime - 3_630_000) < 2000, `lifetime ${lifetime} ms`);
      // An independent verifier: OpenSSL, root from the data directory, intermediate as untrusted.
      const dir = mkdtempSync(join(tmpdir(), 'svid-'));
      writeFileSync(join(dir, 'leaf.pem'), leafPem!);
      writeFileSync(join(dir, 'int.pem'), intermediatePem!);
      const out = execFileSync('openssl', [
        'verify',
        '-CAfile',
        join(authority.home, 'tls', 'ca.crt'),
        '-untrusted',
        join(dir, 'int.pem'),
        '-purpose',
        'sslclient',
        join(dir, 'leaf.pem'),
      ]).toString();
      assert.match(out, /OK/);
      assert.ok(
        authority.audit.events.some((e) => e.action === 'authority.svid.attest' && e.outcome === 'success'),
      );
    });

    it('adds the host names a join token grants as DNS / IP SANs, keeps them on renewal, refuses bad ones', async () => {
      const { json } = await authority.admin('POST', '/v1/join-tokens', {
        service: 'web',
        hosts: ['127.0.0.1', 'localhost', '::1'],
      });
      const client = authority.client();
      const key = await createWorkloadKey();
      const svid = await client.attest(json.token, key.csrPem);
      const names = (pem: string) =>
        new x509.X509Certificate(pem)
          .getExtension(x509.SubjectAlternativeNameExtension)!
          .names.items.map((n) => [n.type, n.value]);
      const expected = [
        ['url', 'spiffe://bulwark.local/service/web'],
        ['ip', '127.0.0.1'],
        ['dns', 'localhost'],
        ['ip', '::1'],
      ];
      assert.deepEqual(names(svid.certChain), expected);
      // The renewed SVID carries the same names: they come from the SVID the caller proves it holds.
      client.useCredentials(new RotatingCredentials(svidMaterial(svid, key.privateKeyPem)));
      const renewed = await client.renew((await createWorkloadKey()).csrPem);
      assert.deepEqual(names(renewed.certChain), expected);
      await client.close();
      for (const hosts of [['*.example.com'], ['bad host'], [':::'], ['a'.repeat(300)]]) {
        const refused = await authority.admin('POST', '/v1/join-tokens', { service: 'web', hosts });
        assert.equal(refused.status, 400, JSON.stringify(hosts));
      }
    });

    it('serves its own SVID, with the host names it listens on', async () => {
      const socket = connect({
        host: '127.0.0.1',
        port: Number(new URL(authority.url).port),
        ca: authority.ca,
      });
      await once(socket, 'secureConnect');
      const cert = socket.getPeerCertificate();
      socket.destroy();
      assert.match(
        cert.subjectaltname ?? '',
        /^URI:spiffe:\/\/bulwark\.local\/service\/authority, IP Address:127\.0\.0\.1, DNS:localhost/,
      );
    });

    it('accepts a join token once only, and audits the refused second use', async () => {
      const token = await authority.joinToken('payments');
      const client = authority.client();
      const key = await createWorkloadKey();
      await client.attest(token, key.csrPem);
      await assert.rejects(client.attest(token, key.csrPem), {
        code: 'authority_join_token_invalid',
        status: 401,
      });
      await assert.rejects(client.attest('bjt_guessed', key.csrPem), {
        code: 'authority_join_token_invalid',
      });
      await client.close();
      assert.ok(
        authority.audit.events.some(
          (e) =>
            e.action === 'authority.svid.attest' &&
            e.outcome === 'failure' &&
            e.reason === 'authority_join_token_invalid',
        ),
      );
    });

    it('refuses a CSR whose signature does not match its key', async () => {
      const a = await createWorkloadKey();
      const b = await createWorkloadKey();
      // Graft b's signature onto a's request body: a valid PEM whose proof of possession fails.
      const csrA = new x509.Pkcs10CertificateRequest(a.csrPem);
      const csrB = new x509.Pkcs10CertificateRequest(b.csrPem);
      const raw = Buffer.from(csrA.rawData);
      const sigA = Buffer.from(csrA.signature);
      const sigB = Buffer.from(csrB.signature);
      const at = raw.lastIndexOf(sigA);
      const forged =
        sigA.length === sigB.length
          ? Buffer.concat([raw.subarray(0, at), sigB, raw.subarray(at + sigA.length)])
          : raw;
      if (sigA.length !== sigB.length) forged[forged.length - 1]! ^= 1;
      const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${forged.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      const client = authority.client();
      await assert.rejects(client.attest(await authority.joinToken('forger'), pem), {
        code: 'authority_csr_invalid',
      });
      await client.close();
    });

    it('renews only for a caller presenting its current SVID, for the same SPIFFE ID', async () => {
      const { svid, key } = await attest('renewer');
      const anonymous = authority.client();
      const fresh = await createWorkloadKey();
      await assert.rejects(anonymous.renew(fresh.csrPem), { status: 401 });
      await anonymous.close();
      const client = authority.client();
      client.useCredentials(new RotatingCredentials(svidMaterial(svid, key.privateKeyPem)));
      const renewed = await client.renew(fresh.csrPem);
      assert.equal(renewed.spiffeId, svid.spiffeId);
      assert.notEqual(renewed.serial, svid.serial);
      await client.close();
    });

    it('revokes a workload: its serials appear in the feed at once and it can no longer renew', async () => {
      const { svid, key } = await attest('rogue');
      const client = authority.client();
      client.useCredentials(new RotatingCredentials(svidMaterial(svid, key.privateKeyPem)));
      const before = await client.revocations(0, 0);
      // Another party follows the feed (the revoked workload itself is refused from now on).
      const waiting = authority.admin('GET', `/v1/revocations?after=${before.sequence}&waitMs=5000`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      const res = await authority.admin('POST', '/v1/revocations', {
        spiffeId: svid.spiffeId,
        reason: 'compromised',
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json.revoked, [svid.serial]);
      const feed = (await waiting).json as { entries: { serial: string }[] };
      assert.ok(Date.now() - started < 2000, 'the long poll returned promptly');
      assert.ok(feed.entries.some((e) => e.serial === svid.serial));
      await assert.rejects(client.revocations(0, 0), { status: 403 });
      const fresh = await createWorkloadKey();
      await assert.rejects(client.renew(fresh.csrPem), { status: 403 });
      await client.close();
      assert.ok(
        authority.audit.events.some(
          (e) => e.action === 'authority.svid.revoke' && e.target?.id === svid.spiffeId,
        ),
      );
    });

    it("serves its issuance metrics with core's on one /metrics scrape, to workloads only", async () => {
      const { svid, key } = await attest('metered');
      // The scrape names every workload issued an SVID: not for a caller without one.
      const anonymous = new Agent({ connect: { ca: authority.ca } });
      const refused = await request(`${authority.url}/metrics`, { dispatcher: anonymous });
      await anonymous.close();
      assert.equal(refused.statusCode, 401);
      assert.equal(((await refused.body.json()) as { code: string }).code, 'mesh_peer_unauthenticated');
      const dispatcher = new Agent({
        connect: { ca: authority.ca, cert: svid.certChain, key: key.privateKeyPem },
      });
      const res = await request(`${authority.url}/metrics`, { dispatcher });
      const text = await res.body.text();
      await dispatcher.close();
      assert.equal(res.statusCode, 200);
      assert.match(text, /bulwark_build_info\{[^}]*component="authority"\} 1/, "core's registry");
      const issued = /bulwark_authority_svids_issued_total\{kind="attest",component="authority"\} (\d+)/.exec(
        text,
      );
      assert.ok(issued && Number(issued[1]) >= 1, "the authority's registry, with its component label");
      assert.match(
        text,
        /bulwark_authority_svid_expiry_timestamp_seconds\{spiffe_id="spiffe:\/\/[^"]+\/metered"/,
      );
    });

    it('refuses the admin API without the admin token', async () => {
      const dispatcher = new Agent({ connect: { ca: authority.ca } });
      for (const authorization of [undefined, 'Bearer bat_wrong']) {
        const res = await request(`${authority.url}/v1/join-tokens`, {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          body: JSON.stringify({ service: 'evil' }),
        });
        assert.equal(res.statusCode, 401);
        assert.equal(((await res.body.json()) as { code: string }).code, 'authority_unauthorized');
      }
      await dispatcher.close();
    });

    it('registers instances under the caller identity and resolves only healthy ones', async () => {
      const { svid, key } = await attest('inventory');
      const client = authority.client();
      client.useCredentials(new RotatingCredentials(svidMaterial(svid, key.privateKeyPem)));
      const instance = await client.register('127.0.0.1', 9443);
      const found = await client.resolve('inventory');
      assert.deepEqual(
        found.map((i) => [i.spiffeId, i.port, i.healthy]),
        [[svid.spiffeId, 9443, true]],
      );
      assert.deepEqual(await client.resolve('nothing'), []);
      await client.heartbeat(instance.id);
      await client.deregister(instance.id);
      assert.deepEqual(await client.resolve('inventory'), []);
      await client.close();
    });

    it('stores CA private keys sealed, never in clear', async () => {
      if (engine !== 'sqlite') return;
      const store = openStore(authority.config.storage, { home: authority.home, namespace: 'authority' });
      const rows = await store.query<{ sealed_key: string }>('SELECT sealed_key FROM authority_ca');
      await store.close();
      assert.ok(rows.length >= 2);
      for (const row of rows) {
        assert.match(row.sealed_key, /^v1\./);
        assert.doesNotMatch(row.sealed_key, /PRIVATE KEY/);
      }
      assert.equal(readFileSync(join(authority.home, 'authority', 'seal.key'), 'utf8').length > 40, true);
    });
  });
}
