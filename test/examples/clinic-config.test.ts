/**
 * The clinic's configuration as the platform reads it: the gateway route file compiles, the Cedar files
 * load under Bulwark's schema in strict mode, and they decide the service-to-service and edge rules the
 * README promises. Also the services run as processes, as `bulwark up --demo` will start them.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clinicPolicyFiles } from '../../examples/clinic/shared/mesh.ts';
import { systemClock } from '../../src/core/index.ts';
import { PolicyEngine, requestContext } from '../../src/core/policy-engine/index.ts';
import { parseRouteFile } from '../../src/gateway/index.ts';
import { Ed25519AssertionSigner } from '../../src/gateway/upstream/identity-assertion.ts';
import { MeshClient } from '../../src/sdk/mesh/index.ts';
import { ServicePolicy } from '../../src/sdk/mesh/service-policy.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { waitFor } from '../fixtures/wait.ts';
import { joinWorkload } from '../sdk/mesh-fixtures.ts';

const CLINIC = join(import.meta.dirname, '..', '..', 'examples', 'clinic');
const svc = (name: string) => `spiffe://bulwark.local/service/${name}`;

function loadedEngine(): PolicyEngine {
  const engine = new PolicyEngine();
  engine.load({
    policies: clinicPolicyFiles().map((file) => ({ file, text: readFileSync(file, 'utf8') })),
  });
  return engine;
}

describe('clinic configuration', () => {
  test('the gateway route file compiles', () => {
    const result = parseRouteFile(readFileSync(join(CLINIC, 'gateway-routes.yaml'), 'utf8'));
    assert.equal(result.ok, true, JSON.stringify(!result.ok && result.issues));
    if (result.ok) {
      assert.deepEqual(
        result.document.services.map((s) => s.name),
        ['patients', 'appointments', 'billing'],
      );
      for (const route of result.document.routes) {
        assert.ok(route.authorize?.api, `${route.name} is authorised by Cedar`);
        assert.ok(route.rateLimits?.length, `${route.name} is rate limited`);
      }
    }
  });

  test('the service-to-service policy allows exactly the clinic’s calls', () => {
    const policy = new ServicePolicy(loadedEngine());
    const at = Date.UTC(2026, 10, 25, 12);
    const decide = (caller: string, callee: string, method: string, path: string) =>
      policy.authorize({ caller: svc(caller), callee: svc(callee), method, path, sourceIp: '127.0.0.1', at })
        .decision;
    const table: [string, string, string, string, 'allow' | 'deny'][] = [
      ['appointments', 'patients', 'GET', '/v1/directory/patients/alice', 'allow'],
      ['appointments', 'patients', 'GET', '/v1/patients/alice', 'deny'],
      ['appointments', 'patients', 'POST', '/v1/directory/patients/alice', 'deny'],
      ['billing', 'patients', 'GET', '/v1/directory/patients/alice', 'deny'],
      ['billing', 'patients', 'GET', '/v1/patients/alice', 'deny'],
      ['billing', 'keys', 'POST', '/v1/keys/clinic-cards/tokenize', 'allow'],
      ['billing', 'keys', 'POST', '/v1/keys/clinic-cards/detokenize', 'deny'],
      ['billing', 'keys', 'POST', '/v1/keys/clinic-pii/decrypt', 'deny'],
      ['patients', 'keys', 'POST', '/v1/keys/clinic-pii/datakey/plaintext', 'allow'],
      ['patients', 'keys', 'POST', '/v1/keys/clinic-pii/decrypt', 'allow'],
      ['patients', 'keys', 'POST', '/v1/keys/clinic-cards/tokenize', 'deny'],
      ['appointments', 'keys', 'POST', '/v1/keys/clinic-pii/decrypt', 'deny'],
      ['gateway', 'patients', 'GET', '/v1/patients/alice', 'allow'],
      ['gateway', 'patients', 'GET', '/v1/directory/patients/alice', 'deny'],
      ['gateway', 'appointments', 'POST', '/v1/appointments', 'allow'],
      ['gateway', 'billing', 'POST', '/v1/payments', 'allow'],
      ['gateway', 'keys', 'POST', '/v1/keys/clinic-cards/tokenize', 'deny'],
      ['patients', 'appointments', 'GET', '/v1/appointments', 'deny'],
    ];
    for (const [caller, callee, method, path, expected] of table) {
      assert.equal(
        decide(caller, callee, method, path),
        expected,
        `${caller} -> ${callee} ${method} ${path}`,
      );
    }
  });

  test('the edge policy lets each role reach its APIs only, and admins only with MFA', () => {
    const engine = loadedEngine();
    const decide = (roles: string[], amr: string[], action: string, api: string) =>
      engine.decide({
        principal: { type: 'Bulwark::User', id: 'u1' },
        action,
        resource: { type: 'Bulwark::Route', id: `${api}.route` },
        context: requestContext({ method: 'GET', path: `/v1/${api}`, sourceIp: '127.0.0.1', amr, at: 0 }),
        entities: [
          {
            uid: { type: 'Bulwark::User', id: 'u1' },
            attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 'default' } } },
            parents: roles.map((r) => ({ type: 'Bulwark::Role', id: r })),
          },
          {
            uid: { type: 'Bulwark::Route', id: `${api}.route` },
            attrs: { tenant: { __entity: { type: 'Bulwark::Tenant', id: 'default' } } },
            parents: [{ type: 'Bulwark::Api', id: api }],
          },
        ],
      }).decision;
    assert.equal(decide(['patient'], ['pwd'], 'read', 'patients'), 'allow');
    assert.equal(decide(['patient'], ['pwd'], 'write', 'patients'), 'deny');
    assert.equal(decide(['doctor'], ['pwd'], 'write', 'patients'), 'allow');
    assert.equal(decide(['billing-clerk'], ['pwd'], 'read', 'patients'), 'deny');
    assert.equal(decide(['billing-clerk'], ['pwd'], 'write', 'billing'), 'allow');
    assert.equal(decide(['doctor'], ['pwd'], 'read', 'billing'), 'deny');
    assert.equal(decide(['admin'], ['pwd'], 'read', 'patients'), 'deny');
    assert.equal(decide(['admin'], ['pwd', 'otp', 'mfa'], 'read', 'patients'), 'allow');
  });
});

describe('clinic services as processes', () => {
  let authority: TestAuthority;
  const children: ReturnType<typeof fork>[] = [];
  before(async () => {
    authority = await startAuthority('sqlite');
  });
  after(async () => {
    for (const child of children) child.kill('SIGTERM');
    await authority?.stop();
  });

  function start(
    script: string,
    env: Record<string, string>,
  ): Promise<{ url: string; child: ReturnType<typeof fork> }> {
    const child = fork(join(CLINIC, script), [], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve, reject) => {
      child.once('message', (m: { type: string; url: string }) => resolve({ url: m.url, child }));
      child.once('exit', (code) => reject(new Error(`${script} exited ${code}: ${stderr}`)));
    });
  }

  test('appointments and billing start from their environment, report ready over IPC and serve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clinic-proc-'));
    const signer = new Ed25519AssertionSigner(systemClock);
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(signer.jwks()));
    writeFileSync(join(dir, 'authority-ca.crt'), authority.ca);
    const common = { CLINIC_GATEWAY_JWKS_FILE: join(dir, 'jwks.json') };
    // Where the audit client delivers: a stand-in for audit's ingest endpoint, recording each batch.
    const audited: { action: string; outcome: string; actor: { id: string } }[] = [];
    const auditServer = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/audit/v1/records')
          audited.push(...(JSON.parse(body) as { records: typeof audited }).records);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => auditServer.listen(0, '127.0.0.1', resolve));

    const appointments = await start('appointments/main.ts', {
      ...common,
      BULWARK_AUTHORITY_URL: authority.url,
      BULWARK_AUTHORITY_CA_FILE: join(dir, 'authority-ca.crt'),
      MESH_JOIN_TOKEN: await authority.joinToken('appointments'),
      CLINIC_DATA_DIR: join(dir, 'appointments'),
      BULWARK_AUDIT_URL: `http://127.0.0.1:${(auditServer.address() as AddressInfo).port}`,
    });
    assert.match(appointments.url, /^https:\/\/127\.0\.0\.1:\d+$/);

    const gateway = await joinWorkload(authority, 'gateway');
    const gatewayAuthority = authority.client();
    gatewayAuthority.useCredentials(gateway.credentials);
    const client = new MeshClient({ identity: gateway, resolve: (n) => gatewayAuthority.resolve(n) });
    const principal = {
      kind: 'user' as const,
      subject: 'dr-carol',
      roles: ['doctor'],
      tenant: 'clinic',
      amr: ['pwd'],
      consumer: 'web',
    };
    const res = await client.fetch('appointments', '/v1/appointments', {
      headers: { 'x-bulwark-identity': signer.assertion(principal, 'appointments') },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { appointments: [] });
    const refused = await client.fetch('appointments', '/v1/appointments/not-hers', {
      headers: { 'x-bulwark-identity': signer.assertion(principal, 'appointments') },
    });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    const event = await waitFor(
      () => audited.find((e) => e.action === 'clinic.appointments.read'),
      'the refusal to reach audit',
    );
    assert.equal(event.outcome, 'failure');
    assert.equal(event.actor.id, 'dr-carol');

    const billing = await start('billing/main.ts', {
      ...common,
      CLINIC_PORT: '0',
      CLINIC_DATA_DIR: join(dir, 'billing'),
      BILLING_KEYS_URL: 'http://127.0.0.1:9',
    });
    // Without its sidecar's identity header, billing takes nobody's word for who the user is.
    const direct = await fetch(`${billing.url}/v1/payments`, {
      headers: { 'x-bulwark-identity': signer.assertion({ ...principal, roles: ['admin'] }, 'billing') },
    });
    assert.equal(direct.status, 403);
    const viaSidecarHeader = await fetch(`${billing.url}/v1/payments`, {
      headers: {
        'x-bulwark-peer-id': svc('gateway'),
        'x-bulwark-identity': signer.assertion(
          { ...principal, subject: 'dave', roles: ['billing-clerk'] },
          'billing',
        ),
      },
    });
    assert.equal(viaSidecarHeader.status, 200);

    const exited = new Promise((resolve) => billing.child.once('exit', resolve));
    billing.child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await client.close();
    await gateway.close();
    await gatewayAuthority.close();
    auditServer.close();
  });
});
