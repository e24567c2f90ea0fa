/**
 * Standing in for authority (or identity) with another component's certificate: every SVID chains to the
 * mesh root and components' SVIDs name the same loopback hosts, so a compromised component's key would
 * pass a host name check. Workloads attesting or renewing, and the CLI sending the authority admin token
 * or identity's admin secret, must refuse such a server before sending anything.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { authorityAdminCall } from '../../src/cli/commands/authority.ts';
import { localServerCredentials } from '../../src/core/index.ts';
import { AuthorityClient, componentServerCheck, type WorkloadIdentity } from '../../src/core/mtls/index.ts';
import { joinWorkload } from '../sdk/mesh-fixtures.ts';
import { startAuthority, type TestAuthority } from './fixtures.ts';

describe('a server impersonating authority or identity', () => {
  let authority: TestAuthority;
  let gateway: WorkloadIdentity;
  let impostor: Server;
  let impostorUrl: string;
  let plain: Server;
  let plainUrl: string;
  const received: string[] = [];

  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  before(async () => {
    authority = await startAuthority('sqlite');
    gateway = await joinWorkload(authority, 'gateway');
    // A compromised gateway's SVID: valid, chained to the mesh root, naming 127.0.0.1.
    const m = gateway.credentials.material;
    impostor = createServer({ cert: m.certChain, key: m.key }, (req, res) => {
      received.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.end('{}');
    });
    impostorUrl = await listen(impostor);
    const local = await localServerCredentials(authority.home, 'identity-alone');
    plain = createServer({ cert: local.cert, key: local.key }, (_req, res) => res.end('{}'));
    plainUrl = await listen(plain);
  });
  after(async () => {
    impostor?.close();
    plain?.close();
    await gateway?.close();
    await authority?.stop();
  });

  it('keeps a workload from sending its join token or CSR to another component', async () => {
    const client = new AuthorityClient({ url: impostorUrl, authorityCa: authority.ca });
    try {
      await assert.rejects(client.attest('a-join-token', 'a-csr'), /not authority|mesh_peer_forbidden/);
      await assert.rejects(client.bundle(), /not authority|mesh_peer_forbidden/);
    } finally {
      await client.close();
    }
    assert.deepEqual(received, []);
    // The real authority still answers the same client code.
    const real = authority.client();
    try {
      assert.ok((await real.bundle()).keys.length > 0);
    } finally {
      await real.close();
    }
  });

  it('keeps the CLI from sending the authority admin token to another component', async () => {
    await assert.rejects(
      authorityAdminCall(
        { url: impostorUrl, ca: authority.ca, token: authority.adminToken },
        'GET',
        '/v1/revocations',
      ),
      /not authority|mesh_peer_forbidden/,
    );
    assert.deepEqual(received, []);
  });

  it('accepts identity by its SVID, or by host name when it has no SVID, and no other component', async () => {
    const call = async (url: string) => {
      const agent = new Agent({
        connect: { ca: authority.ca, checkServerIdentity: componentServerCheck('identity', false) },
      });
      try {
        const res = await request(url, { dispatcher: agent });
        await res.body.dump();
        return res.statusCode;
      } finally {
        await agent.close();
      }
    };
    await assert.rejects(call(impostorUrl), /is not identity/);
    assert.equal(await call(plainUrl), 200);
    assert.deepEqual(received, []);
  });
});
