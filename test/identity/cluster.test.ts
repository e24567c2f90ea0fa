/**
 * Cluster mode: two identity processes' worth of state (two instances on one PostgreSQL schema, one
 * issuer) share clients, users, throttles and revocations.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { dropNamespace, freshName, type IdentityFixture, startIdentity } from './fixtures/identity-server.ts';
import {
  createUser,
  createWebClient,
  newBrowser,
  rpConfig,
  startAuthorization,
  submitPassword,
} from './fixtures/relying-party.ts';

describe('identity replicas on one PostgreSQL schema', () => {
  let a: IdentityFixture;
  let b: IdentityFixture;
  const name = freshName('postgres');
  before(async () => {
    a = await startIdentity(
      'postgres',
      { bruteForce: { accountCap: 3, ipFree: 200, ipCap: 500 } },
      { name, keep: true },
    );
    b = await startIdentity(
      'postgres',
      { issuer: a.issuer, bruteForce: { accountCap: 3, ipFree: 200, ipCap: 500 } },
      { name, home: a.home, keep: true },
    );
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await dropNamespace('postgres', name);
  });

  const call = async (
    f: IdentityFixture,
    path: string,
    client: { clientId: string; clientSecret: string },
    form: Record<string, string>,
  ) => {
    const res = await request(`${f.url}${path}`, {
      method: 'POST',
      dispatcher: f.dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams(form).toString(),
    });
    const text = await res.body.text();
    return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  };

  it('sees a client created on one replica and a revocation made on the other', async () => {
    const admin = await a.adminToken();
    const svc = (
      await a.api<{ clientId: string; clientSecret: string }>(
        'POST',
        '/admin/clients',
        { name: 'shared', kind: 'service', introspection: true },
        admin,
      )
    ).body;
    const token = String(
      (await call(b, '/oidc/token', svc, { grant_type: 'client_credentials' }))['access_token'],
    );
    assert.equal(
      (await call(a, '/oidc/token/introspection', svc, { token }))['active'],
      true,
      'a token from B verifies at A',
    );
    await call(a, '/oidc/token/revocation', svc, { token });
    let active = true;
    for (let i = 0; i < 20 && active; i++) {
      await new Promise((r) => setTimeout(r, 250));
      active = (await call(b, '/oidc/token/introspection', svc, { token }))['active'] === true;
    }
    assert.equal(active, false, 'B learns the revocation within its sync interval');
  });

  it('shares the sign-in throttle: failures on one replica count on the other', async () => {
    const admin = await a.adminToken();
    await createUser(a, admin, { username: 'roamer' });
    const rpA = await rpConfig(a, await createWebClient(a, admin));
    for (let i = 0; i < 3; i++)
      await submitPassword(
        newBrowser(a),
        (await startAuthorization(rpA)).url,
        'roamer',
        `wrong guess ${i} here`,
      );
    const viaB = newBrowser(b);
    const page = await viaB.follow(
      await viaB.get((await startAuthorization(rpA)).url.href.replace(a.url, b.url)),
    );
    const uid = /\/interaction\/([A-Za-z0-9_-]+)/.exec(page.url)![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    // Replicas sit behind one origin (the issuer's); the browser posts with that Origin.
    const res = await viaB.post(
      `/interaction/${uid}/login`,
      { login: 'roamer', password: 'plum orbit velvet canyon 42', csrf },
      { origin: new URL(a.issuer).origin },
    );
    assert.equal(res.status, 429);
  });
});
