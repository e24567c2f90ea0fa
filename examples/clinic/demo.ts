/**
 * `bulwark up --demo`: the clinic behind the platform. This module says what the demo adds to `bulwark up`:
 * the configuration of the gateway (routes, edge policy, identity as issuer, revocation feed), the
 * supervised processes of the three services (billing behind its own sidecar), the seed (keys, roles, users,
 * the OIDC client, patient records) and the summary a newcomer reads. The supervisor in src/cli runs it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { demoPatients, type SeededUser, seedClinicKeys, seedIdentity } from './seed.ts';

const CLINIC = import.meta.dirname;

/** Where the demo's processes listen (loopback). */
export const DEMO_PORTS = {
  patients: 7511,
  appointments: 7512,
  /** billing's sidecar, inbound mTLS: what the gateway calls. */
  billing: 7513,
  /** billing itself, plain HTTP on loopback behind its sidecar. */
  billingApp: 7523,
  billingKeysOutbound: 7533,
  billingPatientsOutbound: 7534,
} as const;

/** The redirect URI of the demo's OIDC client `clinic-web` (the tour and the e2e suite listen there). */
export const DEMO_REDIRECT_URI = 'http://127.0.0.1:8765/callback';

/** The platform's configuration for the demo, merged over the operator's own file. */
export function demoConfig(home: string): Record<string, unknown> {
  return {
    components: {
      gateway: {
        routesFile: join(CLINIC, 'gateway-routes.yaml'),
        policyFiles: [join(CLINIC, 'policies', 'gateway.cedar')],
        issuers: [
          {
            issuer: 'https://127.0.0.1:7304/oidc',
            audiences: ['urn:bulwark:api'],
            algorithms: ['ES256'],
          },
        ],
        // A stable assertion key, so the services' cached key set survives a gateway restart.
        identityKeyFile: join(home, 'clinic', 'gateway-assertion.pem'),
        revocationFeed: { url: 'https://127.0.0.1:7304', intervalSeconds: 1 },
      },
    },
  };
}

export interface DemoProcess {
  name: string;
  /** Module to run, and its arguments. */
  module: string;
  args: string[];
  /** Environment beyond the platform's (URLs, ports, data directories), once the platform runs. */
  env(urls: DemoUrls): Record<string, string>;
  /** The service whose join token the process needs (MESH_JOIN_TOKEN), if any. */
  joinAs?: string;
  /**
   * Whether it needs the demo data first (patients seeds its records through keys); the others start
   * beside the platform's last components, which they reach only when called.
   */
  afterSeed?: boolean;
}

export interface DemoUrls {
  authority: string;
  audit: string;
  keys: string;
  /** The gateway's admin listener (its assertion key set). */
  gatewayAdmin: string;
}

/** The clinic's processes, in the order they start. */
export function demoProcesses(home: string, bulwarkEntry: string): DemoProcess[] {
  const ca = join(home, 'tls', 'ca.crt');
  const data = (name: string) => join(home, 'clinic', name);
  const gatewayKeys = (urls: DemoUrls) => ({
    CLINIC_GATEWAY_JWKS_URL: `${urls.gatewayAdmin}/v1/gateway/jwks.json`,
    CLINIC_GATEWAY_CA_FILE: ca,
  });
  const sdk = (urls: DemoUrls) => ({
    BULWARK_AUTHORITY_URL: urls.authority,
    BULWARK_AUTHORITY_CA_FILE: ca,
    BULWARK_AUDIT_URL: urls.audit,
    BULWARK_AUDIT_CA_FILE: ca,
    ...gatewayKeys(urls),
  });
  return [
    {
      name: 'patients',
      module: join(CLINIC, 'patients', 'main.ts'),
      args: [],
      joinAs: 'patients',
      afterSeed: true,
      env: (urls) => ({
        ...sdk(urls),
        CLINIC_PORT: String(DEMO_PORTS.patients),
        CLINIC_DATA_DIR: data('patients'),
        KEYS_URL: urls.keys,
        CLINIC_SEED_FILE: join(home, 'clinic', 'patients-seed.json'),
      }),
    },
    {
      name: 'appointments',
      module: join(CLINIC, 'appointments', 'main.ts'),
      args: [],
      joinAs: 'appointments',
      env: (urls) => ({
        ...sdk(urls),
        CLINIC_PORT: String(DEMO_PORTS.appointments),
        CLINIC_DATA_DIR: data('appointments'),
      }),
    },
    {
      name: 'billing-sidecar',
      module: bulwarkEntry,
      args: [
        'sidecar',
        ...['--app-port', String(DEMO_PORTS.billingApp), '--port', String(DEMO_PORTS.billing)],
        ...['--outbound', `keys=${DEMO_PORTS.billingKeysOutbound}`],
        ...['--outbound', `patients=${DEMO_PORTS.billingPatientsOutbound}`],
        // authority's URL and CA come from the running platform's state file.
        ...['--admin-port', '-1', '--policy', join(CLINIC, 'policies', 'mesh.cedar')],
      ],
      joinAs: 'billing',
      env: () => ({}),
    },
    {
      name: 'billing',
      module: join(CLINIC, 'billing', 'main.ts'),
      args: [],
      env: (urls) => ({
        CLINIC_PORT: String(DEMO_PORTS.billingApp),
        CLINIC_DATA_DIR: data('billing'),
        BILLING_KEYS_URL: `http://127.0.0.1:${DEMO_PORTS.billingKeysOutbound}`,
        BILLING_PATIENTS_URL: `http://127.0.0.1:${DEMO_PORTS.billingPatientsOutbound}`,
        ...gatewayKeys(urls),
      }),
    },
  ];
}

/** What the person running the demo needs to sign in: kept 0600 in `<home>/clinic/`, shown at each start. */
export interface DemoCredentials {
  users: { username: string; password: string; roles: string[]; subject: string }[];
  clientId: string;
  redirectUri: string;
}

export function credentialsFile(home: string): string {
  return join(home, 'clinic', 'demo-credentials.json');
}

/**
 * Seeds keys and identity through their APIs (as the operator), and writes the patients' seed records.
 * Runs at every start; what exists is left alone, and the passwords made at the first start are kept.
 */
export async function seedDemo(options: {
  home: string;
  identityUrl: string;
  keysUrl: string;
  /** Presents the operator's SVID: keys and identity's admin API serve only mTLS. */
  dispatcher: Dispatcher;
}): Promise<DemoCredentials> {
  const { home } = options;
  mkdirSync(join(home, 'clinic'), { recursive: true, mode: 0o700 });
  const ca = readFileSync(join(home, 'tls', 'ca.crt'), 'utf8');
  await seedClinicKeys({
    keysUrl: options.keysUrl,
    keysCa: ca,
    adminCaller: 'spiffe://bulwark.local/service/operator',
    dispatcher: options.dispatcher,
  });
  const seeded = await seedIdentity(
    {
      url: options.identityUrl,
      ca,
      credentials: JSON.parse(readFileSync(join(home, 'identity', 'admin-client.json'), 'utf8')),
      dispatcher: options.dispatcher,
    },
    { redirectUris: [DEMO_REDIRECT_URI] },
  );
  const file = credentialsFile(home);
  const known: DemoCredentials | undefined = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as DemoCredentials)
    : undefined;
  const password = (u: SeededUser) =>
    u.password ||
    known?.users.find((k) => k.username === u.username)?.password ||
    '(set at an earlier start)';
  const credentials: DemoCredentials = {
    users: seeded.map((u) => ({
      username: u.username,
      password: password(u),
      roles: u.roles,
      subject: u.subject,
    })),
    clientId: 'clinic-web',
    redirectUri: DEMO_REDIRECT_URI,
  };
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  writeFileSync(join(home, 'clinic', 'patients-seed.json'), JSON.stringify(demoPatients(seeded)), {
    mode: 0o600,
  });
  return credentials;
}

/** The lines `bulwark up --demo` prints after the platform's summary. */
export function demoSummary(credentials: DemoCredentials, gatewayUrl: string, identityUrl: string): string {
  const width = Math.max(...credentials.users.map((u) => u.username.length));
  return [
    '  The clinic demo (examples/clinic, walk-through in docs/tour.md):',
    `    gateway       ${gatewayUrl}  (/v1/patients, /v1/appointments, /v1/payments)`,
    `    sign in       ${identityUrl}/oidc  (client ${credentials.clientId}, code + PKCE, redirect ${credentials.redirectUri})`,
    `    services      patients :${DEMO_PORTS.patients}, appointments :${DEMO_PORTS.appointments} (SDK, mTLS); billing :${DEMO_PORTS.billing} (sidecar)`,
    '    demo users (also in <home>/clinic/demo-credentials.json, 0600):',
    ...credentials.users.map(
      (u) =>
        `      ${u.username.padEnd(width)}  ${u.password}  ${u.roles.join(',')}${u.roles.includes('admin') ? ' (TOTP enrolment at first sign-in)' : ''}`,
    ),
    '',
  ].join('\n');
}
