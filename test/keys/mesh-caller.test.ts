/**
 * keys on the mesh takes its caller from the client SVID: a workload that writes another identity in the
 * caller header gets nothing for it, a caller without an SVID is refused, and the operator's SVID is
 * what lets key management through.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, type Dispatcher, request } from 'undici';
import { buildConfigSchema, loadConfig, type RunningComponent, runComponent } from '../../src/core/index.ts';
import { componentDispatcher, type WorkloadIdentity } from '../../src/core/mtls/index.ts';
import { keysComponent } from '../../src/keys/index.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload, sid } from '../sdk/mesh-fixtures.ts';

describe('keys callers on the mesh', () => {
  let authority: TestAuthority;
  let keys: RunningComponent;
  const identities: WorkloadIdentity[] = [];
  const as: Record<string, Dispatcher> = {};

  before(async () => {
    authority = await startAuthority('sqlite');
    const schema = buildConfigSchema([
      { name: 'keys', defaultPort: 7303, properties: keysComponent.configProperties },
    ]);
    const config = loadConfig(schema, {
      env: {
        BULWARK_HOME: authority.home,
        BULWARK_LOG__LEVEL: 'silent',
        BULWARK_MESH__AUTHORITY_URL: authority.url,
      },
    });
    // As `bulwark up` joins it: the SVID also names the host it listens on.
    const { json } = await authority.admin('POST', '/v1/join-tokens', {
      service: 'keys',
      hosts: ['127.0.0.1'],
    });
    keys = await runComponent(keysComponent, config, { port: 0, joinToken: json.token as string });
    for (const name of ['orders', 'operator']) {
      const identity = await joinWorkload(authority, name);
      identities.push(identity);
      as[name] = componentDispatcher(identity, 'keys');
    }
    as['nobody'] = new Agent({ connect: { ca: authority.ca } });
  });
  after(async () => {
    for (const d of Object.values(as)) await d.close();
    for (const i of identities) await i.close();
    await keys?.stop();
    await authority?.stop();
  });

  const createKey = async (who: string, name: string) => {
    const res = await request(`${keys.url}/v1/keys`, {
      method: 'POST',
      dispatcher: as[who],
      headers: {
        'content-type': 'application/json',
        // The attacker's claim: the header names the operator, whoever really calls.
        'x-bulwark-caller': sid('operator'),
      },
      body: JSON.stringify({ name, type: 'aes256-gcm' }),
    });
    return { status: res.statusCode, json: (await res.body.json()) as { code?: string } };
  };

  it('ignores a caller header naming someone else', async () => {
    const res = await createKey('orders', 'stolen');
    assert.equal(res.status, 403);
    assert.equal(res.json.code, 'keys_forbidden');
  });

  it('refuses a caller without an SVID whatever the header says', async () => {
    const res = await createKey('nobody', 'anonymous');
    assert.equal(res.status, 401);
    assert.equal(res.json.code, 'mesh_peer_unauthenticated');
  });

  it("lets the operator's SVID manage keys", async () => {
    assert.equal((await createKey('operator', 'orders-pii')).status, 201);
  });
});
