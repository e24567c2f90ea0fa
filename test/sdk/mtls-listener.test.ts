/** core/mtls enforceMtls (what every component's listener will use) on a real fastify HTTPS server with SVIDs from a real authority. */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Server, TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import { fetch } from 'undici';
import { enforceMtls, mtlsDispatcher, mtlsServerOptions, verifiedPeer } from '../../src/core/mtls/index.ts';
import type { WorkloadIdentity } from '../../src/sdk/mesh/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload, sid } from './mesh-fixtures.ts';

describe('enforceMtls on a fastify listener', () => {
  let authority: TestAuthority;
  let server: WorkloadIdentity;
  let caller: WorkloadIdentity;
  let stranger: WorkloadIdentity;
  let app: ReturnType<typeof Fastify>;
  const refused: string[] = [];

  before(async () => {
    authority = await startAuthority('sqlite');
    server = await joinWorkload(authority, 'keys');
    caller = await joinWorkload(authority, 'gateway');
    stranger = await joinWorkload(authority, 'stranger');
    const requirements = { trustDomains: new Set(['bulwark.local']), revocations: server.revocations };
    app = Fastify({ https: mtlsServerOptions(server.credentials.material) });
    enforceMtls(app.server as unknown as Server, {
      credentials: server.credentials,
      ...requirements,
      authorize: (peer) => peer.spiffeId.uri === sid('gateway'),
      onRefused: (code) => refused.push(code),
    });
    app.get('/whoami', async (req: { raw: { socket: unknown } }) => ({
      caller: verifiedPeer(req.raw.socket as TLSSocket, requirements).spiffeId.uri,
    }));
    await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app.close();
    await Promise.all([server, caller, stranger].map((w) => w.close()));
    await authority.stop();
  });

  const call = (who: WorkloadIdentity) =>
    fetch(`https://127.0.0.1:${(app.server.address() as AddressInfo).port}/whoami`, {
      dispatcher: mtlsDispatcher(who.credentials, {
        trustDomains: new Set(['bulwark.local']),
        authorizeServer: (id) => id === sid('keys'),
      }),
    });

  it('lets an authorised SPIFFE ID in and shows the route who it is', async () => {
    const res = await call(caller);
    assert.deepEqual(await res.json(), { caller: sid('gateway') });
  });

  it('drops a valid SVID that is not authorised before any HTTP is read, and reports it', async () => {
    await assert.rejects(call(stranger));
    assert.ok(refused.includes('mesh_peer_forbidden'));
  });
});
