/**
 * The clinic on loopback: real authority and keys components, the keys mesh ingress, `patients` and
 * `appointments` on the SDK, `billing` behind a real sidecar (launched the way `bulwark sidecar` launches
 * it), and a "gateway" workload that calls the services over mTLS with assertions signed by the
 * gateway's own signer, exactly as the gateway's upstream stage signs them.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startAppointments } from '../../examples/clinic/appointments/service.ts';
import { startBilling } from '../../examples/clinic/billing/service.ts';
import { startKeysIngress } from '../../examples/clinic/keys-ingress/service.ts';
import { startPatients } from '../../examples/clinic/patients/service.ts';
import { seedClinicKeys } from '../../examples/clinic/seed.ts';
import { clinicPolicyFiles } from '../../examples/clinic/shared/mesh.ts';
import { createLogger, MemoryAuditSink, systemClock } from '../../src/core/index.ts';
import { mtlsDispatcher } from '../../src/core/mtls/index.ts';
import type { Principal } from '../../src/gateway/context.ts';
import { Ed25519AssertionSigner } from '../../src/gateway/upstream/identity-assertion.ts';
import { MeshClient, type WorkloadIdentity } from '../../src/sdk/mesh/index.ts';
import { DEFAULT_SIDECAR } from '../../src/sidecar/config.ts';
import { launchSidecar } from '../../src/sidecar/launch.ts';
import { startAuthority, type TestAuthority } from '../authority/fixtures.ts';
import { freePort } from '../fixtures/net.ts';
import { ADMIN, type KeysHarness, startKeys } from '../keys/fixture.ts';
import { joinWorkload } from '../sdk/mesh-fixtures.ts';

export const ALICE = {
  id: 'alice',
  doctor: 'dr-carol',
  name: 'Alice Liddell',
  dateOfBirth: '1990-04-12',
  nationalId: '123-45-6789',
  notes: ['Seasonal asthma; salbutamol as needed'],
};
export const BOB = {
  id: 'bob',
  doctor: 'dr-mallory',
  name: 'Robert Tables',
  dateOfBirth: '1985-11-02',
  nationalId: '987-65-4321',
  notes: ['Type 2 diabetes, metformin 500 mg'],
};

export const OPERATOR = 'spiffe://bulwark.local/service/operator';

export type Role = 'patient' | 'doctor' | 'billing-clerk' | 'admin';

export interface Clinic {
  authority: TestAuthority;
  keys: KeysHarness;
  patientsAudit: MemoryAuditSink;
  billingSidecarAudit: MemoryAuditSink;
  patientsDir: string;
  billingDir: string;
  billingOutbound: Record<string, number>;
  signer: Ed25519AssertionSigner;
  gateway: WorkloadIdentity;
  /** A call through the mesh as the gateway would make it, for `subject` with `roles`. */
  asUser(
    service: 'patients' | 'appointments' | 'billing',
    subject: string,
    roles: Role[],
    path: string,
    init?: { method?: string; body?: unknown; assertion?: string },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  assertion(subject: string, roles: Role[], audience: string): string;
  stop(): Promise<void>;
}

export interface ClinicOptions {
  /** The gateway's assertion key (PEM); a fresh one when absent. A real gateway given the same key signs what the services accept. */
  gatewayKeyPem?: string;
  /**
   * How the services reach `keys`: `mesh` runs `keys` as `bulwark up` does (joined with a join token,
   * serving only mTLS, the caller read from its SVID) and calls it directly; `ingress` runs it alone on
   * the local CA behind the keys ingress.
   */
  keysMode?: 'mesh' | 'ingress';
}

export async function startClinic(options: ClinicOptions = {}): Promise<Clinic> {
  const authority = await startAuthority('sqlite');
  const keysMode = options.keysMode ?? 'ingress';
  const platform = { authorityUrl: authority.url, authorityCa: authority.ca };
  const stops: (() => Promise<void>)[] = [];
  let keys: KeysHarness;
  let patientsKeysUrl: string | undefined;
  if (keysMode === 'mesh') {
    // keys joins the mesh at start exactly as under `bulwark up`: join token in MESH_JOIN_TOKEN (taken
    // and removed from the environment), authority's URL in the config, authority's CA in its home.
    process.env['MESH_JOIN_TOKEN'] = await authority.joinToken('keys');
    keys = await startKeys({
      home: authority.home,
      env: {
        BULWARK_MESH__AUTHORITY_URL: authority.url,
        BULWARK_COMPONENTS__KEYS__ADMINS: `[${OPERATOR}]`,
      },
    });
    const operator = await joinWorkload(authority, 'operator');
    const toKeys = mtlsDispatcher(operator.credentials, {
      trustDomains: new Set([operator.trustDomain]),
      revocations: operator.revocations,
      authorizeServer: (id) => id === 'spiffe://bulwark.local/service/keys',
    });
    await seedClinicKeys({ keysUrl: keys.url, keysCa: '', adminCaller: OPERATOR, dispatcher: toKeys });
    await toKeys.close();
    await operator.close();
    // Stands in for what keys does not do yet: register its listener in discovery, so that a sidecar's
    // outbound `keys` port finds it (see the README's gaps).
    const registrar = await joinWorkload(authority, 'keys');
    const registrarClient = authority.client();
    registrarClient.useCredentials(registrar.credentials);
    const registration = await registrarClient.register('127.0.0.1', Number(new URL(keys.url).port));
    stops.push(async () => {
      await registrarClient.deregister(registration.id).catch(() => undefined);
      await registrar.close();
      await registrarClient.close();
    });
    patientsKeysUrl = keys.url;
  } else {
    keys = await startKeys();
    const keysCa = readFileSync(join(keys.config.home, 'tls', 'ca.crt'), 'utf8');
    await seedClinicKeys({ keysUrl: keys.url, keysCa, adminCaller: ADMIN, trustDomain: 'bulwark.local' });
    const ingress = await startKeysIngress({
      ...platform,
      joinToken: await authority.joinToken('keys'),
      keysUrl: keys.url,
      keysCa,
    });
    stops.push(() => ingress.close());
  }
  const signer = new Ed25519AssertionSigner(
    systemClock,
    options.gatewayKeyPem ? { privateKeyPem: options.gatewayKeyPem } : {},
  );
  const gatewayJwks = signer.jwks() as { keys: { kty: string; kid?: string }[] };

  const patientsAudit = new MemoryAuditSink();
  const patientsDir = mkdtempSync(join(tmpdir(), 'clinic-patients-'));
  const patients = await startPatients({
    ...platform,
    joinToken: await authority.joinToken('patients'),
    dataDir: patientsDir,
    gatewayJwks,
    audit: patientsAudit,
    seed: [ALICE, BOB],
    ...(patientsKeysUrl ? { keysUrl: patientsKeysUrl } : {}),
  });
  stops.push(() => patients.close());

  const appointments = await startAppointments({
    ...platform,
    joinToken: await authority.joinToken('appointments'),
    dataDir: mkdtempSync(join(tmpdir(), 'clinic-appointments-')),
    gatewayJwks,
  });
  stops.push(() => appointments.close());

  // billing behind a real sidecar: the sidecar first (billing needs its outbound ports), on a port
  // reserved for billing.
  const billingPort = await freePort();
  const billingSidecarAudit = new MemoryAuditSink();
  const sidecar = await launchSidecar({
    settings: {
      ...DEFAULT_SIDECAR,
      inboundPort: 0,
      adminPort: -1,
      appPort: billingPort,
      outbound: [
        { service: 'keys', port: 0 },
        { service: 'patients', port: 0 },
      ],
    },
    ...platform,
    joinToken: await authority.joinToken('billing'),
    policyFiles: clinicPolicyFiles(),
    logger: createLogger({
      level: 'silent',
      component: 'sidecar',
      destination: new Writable({ write: (_c, _e, done) => done() }),
    }),
    audit: billingSidecarAudit,
  });
  stops.push(() => sidecar.stop());
  const billingDir = mkdtempSync(join(tmpdir(), 'clinic-billing-'));
  const billing = await startBilling({
    dataDir: billingDir,
    port: billingPort,
    keysUrl: `http://127.0.0.1:${sidecar.outboundPorts['keys']}`,
    patientsUrl: `http://127.0.0.1:${sidecar.outboundPorts['patients']}`,
    gatewayJwks,
  });
  stops.push(() => billing.close());

  const gateway = await joinWorkload(authority, 'gateway');
  const gatewayAuthority = authority.client();
  gatewayAuthority.useCredentials(gateway.credentials);
  const client = new MeshClient({ identity: gateway, resolve: (name) => gatewayAuthority.resolve(name) });
  stops.push(async () => {
    await client.close();
    await gateway.close();
    await gatewayAuthority.close();
  });

  const assertion = (subject: string, roles: Role[], audience: string) => {
    const principal: Principal = {
      kind: 'user',
      subject,
      roles,
      tenant: 'clinic',
      amr: roles.includes('admin') ? ['pwd', 'otp', 'mfa'] : ['pwd'],
      consumer: 'clinic-web',
      expiresAt: Date.now() + 300_000,
    };
    return signer.assertion(principal, audience);
  };

  return {
    authority,
    keys,
    patientsAudit,
    billingSidecarAudit,
    patientsDir,
    billingDir,
    billingOutbound: sidecar.outboundPorts,
    signer,
    gateway,
    assertion,
    async asUser(service, subject, roles, path, init = {}) {
      const res = await client.fetch(service, path, {
        method: init.method ?? 'GET',
        headers: {
          'x-bulwark-identity': init.assertion ?? assertion(subject, roles, service),
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
    async stop() {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      await keys.stop();
      await authority.stop();
    },
  };
}
