/**
 * The clinic behind the real gateway: `gateway-routes.yaml` and `policies/gateway.cedar` as written, the
 * gateway reaching the services over mTLS with its own SVID (joined as `gateway`), access tokens from an OIDC
 * issuer. What a user sees: their record, another's refused by the service, another API refused at the
 * edge, admins only with MFA, cards masked, and a burst stopped with 429.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MemoryAuditSink } from '../../src/core/index.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { parseRouteFile } from '../../src/gateway/index.ts';
import { issuerConfig, silentLogger, tempHome } from '../gateway/fixtures/harness.ts';
import { startIssuer, type TestIssuer } from '../gateway/fixtures/issuer.ts';
import { ALICE, type Clinic, startClinic } from './clinic-fixtures.ts';

const CLINIC = join(import.meta.dirname, '..', '..', 'examples', 'clinic');

describe('clinic through the gateway', () => {
  let clinic: Clinic;
  let issuer: TestIssuer;
  let gateway: Gateway;
  let url: string;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    clinic = await startClinic({ gatewayKeyPem: keyPem, keysMode: 'mesh' });
    issuer = await startIssuer(tempHome());
    const parsed = parseRouteFile(readFileSync(join(CLINIC, 'gateway-routes.yaml'), 'utf8'));
    assert.ok(parsed.ok);
    const routes = parsed.document;
    // The services (billing: its sidecar) as registered in discovery; the gateway calls them over mTLS
    // with its own SVID, as under `bulwark up --demo`.
    const registry = clinic.authority.client();
    registry.useCredentials(clinic.gateway.credentials);
    for (const service of routes.services) {
      const [instance] = (await registry.resolve(service.name)).filter((i) => i.healthy);
      assert.ok(instance, `${service.name} is registered`);
      service.targets = [`https://${instance.host}:${instance.port}`];
    }
    await registry.close();
    gateway = new Gateway({
      routes,
      issuers: [issuerConfig(issuer.issuer, { audiences: ['api'] })],
      logger: silentLogger(),
      audit: new MemoryAuditSink(),
      policies: [
        { file: 'gateway.cedar', text: readFileSync(join(CLINIC, 'policies', 'gateway.cedar'), 'utf8') },
      ],
      jwksDispatcher: issuer.dispatcher,
      upstreamIdentity: clinic.gateway,
      identityKeyPem: keyPem,
    });
    url = await gateway.listen(0);
    stops.push(() => gateway.close(100));
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await issuer?.close();
    await clinic?.stop();
  });

  async function call(
    claims: { sub: string; roles: string[]; amr?: string[] },
    path: string,
    init: { method?: string; body?: unknown } = {},
  ) {
    const token = await issuer.sign({ tenant: 'clinic', amr: ['pwd'], ...claims });
    const res = await fetch(`${url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  }

  test('a patient reads their own record through the gateway, and not another’s', async () => {
    const own = await call({ sub: 'alice', roles: ['patient'] }, '/v1/patients/me');
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body['name'], ALICE.name);
    const other = await call({ sub: 'alice', roles: ['patient'] }, '/v1/patients/bob');
    assert.equal(other.status, 403);
    assert.equal(other.body['code'], 'clinic_forbidden');
  });

  test('the edge policy refuses an API a role has no business with, and admins without MFA', async () => {
    const clerk = await call({ sub: 'dave', roles: ['billing-clerk'] }, '/v1/patients/alice');
    assert.equal(clerk.status, 403);
    assert.equal(clerk.body['code'], 'gateway_forbidden');
    const noMfa = await call({ sub: 'erin', roles: ['admin'] }, '/v1/patients/alice');
    assert.equal(noMfa.status, 403);
    assert.equal(noMfa.body['code'], 'gateway_forbidden');
    const withMfa = await call(
      { sub: 'erin', roles: ['admin'], amr: ['pwd', 'otp', 'mfa'] },
      '/v1/patients/alice',
    );
    assert.equal(withMfa.status, 200);
    assert.equal(withMfa.body['nationalId'], ALICE.nationalId);
  });

  test('booking goes gateway -> appointments -> patients, all over mTLS', async () => {
    const booked = await call({ sub: 'alice', roles: ['patient'] }, '/v1/appointments', {
      method: 'POST',
      body: { patientId: 'alice', at: '2026-12-03T08:00:00Z', reason: 'follow-up' },
    });
    assert.equal(booked.status, 201, JSON.stringify(booked.body));
    assert.equal(booked.body['patientName'], ALICE.name);
  });

  test('a clerk takes a card payment and sees it masked; a burst of payments meets 429 with Retry-After', async () => {
    const clerk = { sub: 'dave', roles: ['billing-clerk'] };
    const paid = await call(clerk, '/v1/payments', {
      method: 'POST',
      body: { patientId: 'alice', amountCents: 1200, cardNumber: '5555 5555 5555 4444' },
    });
    assert.equal(paid.status, 201, JSON.stringify(paid.body));
    assert.equal(paid.body['card'], '**** **** **** 4444');
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 15 && !limited; i++) {
      const res = await call(clerk, '/v1/payments', {
        method: 'POST',
        body: { patientId: 'alice', amountCents: 100, cardNumber: '4111111111111111' },
      });
      if (res.status === 429) limited = res;
      else assert.equal(res.status, 201);
    }
    assert.ok(limited, 'the burst is limited');
    assert.equal(limited.body['code'], 'gateway_rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    // Another user is unaffected by the clerk's spent budget.
    const alice = await call({ sub: 'alice', roles: ['patient'] }, '/v1/payments');
    assert.equal(alice.status, 200);
  });
});
