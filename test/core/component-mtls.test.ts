/**
 * A component that joined the mesh serves only mutual TLS: from the attacker's side (no certificate, a
 * certificate from another CA, a forged SVID under the real root with two URI SANs, a revoked workload) and
 * from the side of a legitimate component calling it with its own SVID.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import {
  type BulwarkConfig,
  type ComponentDefinition,
  callerOf,
  MemoryAuditSink,
  type RunningComponent,
  runComponent,
} from '../../src/core/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { waitFor } from '../fixtures/wait.ts';
import { foreignRootSigner, forgeLeaf, localRootSigner } from '../sidecar/cert-forge.ts';

/** A component with one protected route that names its caller, and one public route. */
function echoComponent(name: string): ComponentDefinition {
  return {
    name,
    description: 'test component',
    defaultPort: 0,
    configProperties: {},
    publicPaths: ['/public'],
    async create() {
      return {
        routes: async (app) => {
          app.get('/v1/whoami', async (req) => ({ caller: callerOf(req)?.spiffeId.uri ?? null }));
          app.get('/public/hello', async (req) => ({ caller: callerOf(req)?.spiffeId.uri ?? null }));
        },
      };
    },
  };
}

describe('a component on mutual TLS', () => {
  let authority: TestAuthority;
  let config: BulwarkConfig;
  let server: RunningComponent;
  let client: RunningComponent;
  let ca: string;

  const join = async (definition: ComponentDefinition) => {
    const { json } = await authority.admin('POST', '/v1/join-tokens', {
      service: definition.name,
      hosts: ['127.0.0.1', 'localhost'],
    });
    return runComponent(definition, config, {
      port: 0,
      audit: new MemoryAuditSink(),
      joinToken: json.token as string,
    });
  };

  before(async () => {
    authority = await startAuthority('sqlite');
    config = { ...authority.config, mesh: { authorityUrl: authority.url, hosts: [] } };
    ca = authority.ca;
    server = await join(echoComponent('ledger'));
    client = await join(echoComponent('orders'));
  });
  after(async () => {
    await client?.stop();
    await server?.stop();
    await authority?.stop();
  });

  const call = async (path: string, dispatcher: Agent) => {
    const res = await request(`${server.url}${path}`, { dispatcher });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  };

  it('serves an SVID that plain TLS clients accept by host name, and health probes without a certificate', async () => {
    const plain = new Agent({ connect: { ca } });
    assert.equal((await call('/healthz', plain)).status, 200);
    assert.equal((await call('/readyz', plain)).status, 200);
    assert.deepEqual(await call('/public/hello', plain), { status: 200, json: { caller: null } });
    await plain.close();
  });

  it('refuses a caller without a certificate on every other route', async () => {
    const plain = new Agent({ connect: { ca } });
    for (const path of ['/v1/whoami', '/metrics', '/nowhere', '/public/../v1/whoami']) {
      const res = await call(path, plain);
      assert.equal(res.status, 401, path);
      assert.equal(res.json['code'], 'mesh_peer_unauthenticated', path);
    }
    await plain.close();
  });

  it('refuses a certificate from another CA and a forged SVID with two URI SANs', async () => {
    const foreign = await forgeLeaf(await foreignRootSigner(), {
      uris: ['spiffe://bulwark.local/service/orders'],
    });
    const twoSans = await forgeLeaf(await localRootSigner(authority.home), {
      uris: ['spiffe://bulwark.local/service/orders', 'spiffe://bulwark.local/service/admin'],
    });
    for (const pair of [foreign, twoSans]) {
      const agent = new Agent({
        connect: { ca, cert: readFileSync(pair.cert), key: readFileSync(pair.key) },
      });
      const res = await call('/v1/whoami', agent);
      assert.ok(res.status === 401 || res.status === 403, `status ${res.status}`);
      assert.match(String(res.json['code']), /^mesh_/);
      await agent.close();
    }
  });

  it('lets a joined component in and tells the handler who it is', async () => {
    const mesh = meshOf(client);
    const res = await request(`${server.url}/v1/whoami`, { dispatcher: mesh.dispatcher('ledger') });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { caller: 'spiffe://bulwark.local/service/orders' });
  });

  it('registers each joined component in the registry, so others resolve it by name', async () => {
    assert.equal(await meshOf(client).resolve('ledger'), server.url);
    assert.equal(await meshOf(client).resolve('nobody'), undefined);
  });

  it('the client refuses a server that is not the component it meant to call', async () => {
    const mesh = meshOf(client);
    // ledger's listener presents ledger's SVID; a dispatcher meant for `audit` must not accept it.
    await assert.rejects(request(`${server.url}/v1/whoami`, { dispatcher: mesh.dispatcher('audit') }), {
      code: 'mesh_peer_forbidden',
    });
  });

  it('refuses a revoked component within seconds, on a connection it already holds', async () => {
    const revoked = await join(echoComponent('rogue'));
    try {
      const dispatcher = meshOf(revoked).dispatcher('ledger');
      assert.equal((await request(`${server.url}/v1/whoami`, { dispatcher })).statusCode, 200);
      const res = await authority.admin('POST', '/v1/revocations', {
        spiffeId: 'spiffe://bulwark.local/service/rogue',
        reason: 'compromised',
      });
      assert.equal(res.status, 200);
      const started = Date.now();
      await waitFor(
        async () => {
          const r = await request(`${server.url}/v1/whoami`, { dispatcher });
          const body = (await r.body.json()) as { code?: string };
          return r.statusCode === 401 && body.code === 'mesh_peer_revoked';
        },
        'the revoked caller to be refused',
        5000,
      );
      assert.ok(Date.now() - started < 5000);
    } finally {
      await revoked.stop();
    }
  });
});

/** The component's mesh membership, as its own code sees it in its context. */
function meshOf(running: RunningComponent) {
  const mesh = running.mesh;
  assert.ok(mesh, 'the component joined the mesh');
  return mesh;
}
