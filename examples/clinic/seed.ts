/**
 * Demo data of the clinic, written through the platform's own APIs (never into another component's
 * tables):
 *
 * - `identity` (admin API, as the bootstrap service account of `<home>/identity/admin-client.json`): the
 *   roles `patient`, `doctor`, `billing-clerk` (identity's built-in `admin` role always requires MFA), the
 *   users alice and bob (patients), dr-carol (doctor, treating alice), dave (billing clerk) and erin
 *   (admin: she must enrol TOTP at her first sign-in), and the public OIDC client `clinic-web` (code +
 *   PKCE);
 * - `keys` (admin caller): `clinic-pii` (data keys and unwrapping for `patients` only) and `clinic-cards`
 *   (tokenization for `billing` only, never detokenization);
 * - `patients`: the records, given to `startPatients({ seed })`, keyed by each user's `sub`.
 */
import { randomBytes } from 'node:crypto';
import { Agent, type Dispatcher, request } from 'undici';
import type { PatientSeed } from './patients/service.ts';

export const CLINIC_ROLES = [
  { name: 'patient', description: 'A patient of the clinic: their own record, appointments and bills' },
  { name: 'doctor', description: 'A doctor: the records and appointments of their own patients' },
  { name: 'billing-clerk', description: 'Takes card payments; sees card numbers masked to the last four' },
] as const;

export interface DemoUser {
  username: string;
  email: string;
  roles: string[];
}

export const DEMO_USERS: readonly DemoUser[] = [
  { username: 'alice', email: 'alice@clinic.example', roles: ['patient'] },
  { username: 'bob', email: 'bob@clinic.example', roles: ['patient'] },
  { username: 'dr-carol', email: 'carol@clinic.example', roles: ['doctor'] },
  { username: 'dave', email: 'dave@clinic.example', roles: ['billing-clerk'] },
  { username: 'erin', email: 'erin@clinic.example', roles: ['admin'] },
];

export const DEMO_CLIENT = { clientId: 'clinic-web', name: 'Clinic web app', kind: 'public' } as const;

export interface SeededUser extends DemoUser {
  /** identity's user id: the `sub` of the user's tokens, and a patient's record id. */
  subject: string;
  /** Shown once to the person running the demo. */
  password: string;
}

export interface IdentityAdmin {
  /** identity's base URL (`https://127.0.0.1:7304`). */
  url: string;
  /** PEM of the CA its certificate chains to. */
  ca: string;
  /** The content of `<home>/identity/admin-client.json`. */
  credentials: { clientId: string; clientSecret: string; resource: string; scope: string };
  /**
   * When identity serves mTLS (under `bulwark up`): a dispatcher presenting an SVID (the operator's), since
   * its admin API takes callers with an SVID only.
   */
  dispatcher?: Dispatcher;
}

/** A passphrase that meets NIST SP 800-63B as identity enforces it (15+ characters, not common). */
function demoPassword(): string {
  return `clinic-${randomBytes(12).toString('base64url')}`;
}

/**
 * Creates the roles, users and OIDC client (idempotent for roles; users and the client that exist are
 * left alone and reported without a password).
 *
 * @example
 * const users = await seedIdentity({ url, ca, credentials: JSON.parse(readFileSync(adminClientFile, 'utf8')) },
 *   { redirectUris: ['http://127.0.0.1:8765/callback'] });
 */
export async function seedIdentity(
  admin: IdentityAdmin,
  options: { redirectUris?: string[] } = {},
): Promise<SeededUser[]> {
  const own = admin.dispatcher ? undefined : new Agent({ connect: { ca: admin.ca } });
  const dispatcher = admin.dispatcher ?? own!;
  try {
    const token = await adminToken(admin, dispatcher);
    const call = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => {
      const res = await request(`${admin.url}${path}`, {
        method,
        dispatcher,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.body.text();
      return { status: res.statusCode, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    };
    for (const role of CLINIC_ROLES) {
      const res = await call('PUT', `/admin/roles/${role.name}`, {
        description: role.description,
        permissions: [],
      });
      if (res.status !== 200)
        throw new Error(`identity refused role ${role.name}: ${res.status} ${res.json['code']}`);
    }
    const existing = (await call('GET', '/admin/users')).json['users'] as { id: string; username: string }[];
    const seeded: SeededUser[] = [];
    for (const user of DEMO_USERS) {
      const found = existing.find((u) => u.username === user.username);
      if (found) {
        seeded.push({ ...user, subject: found.id, password: '' });
        continue;
      }
      const password = demoPassword();
      const res = await call('POST', '/admin/users', { ...user, password });
      if (res.status !== 201)
        throw new Error(`identity refused user ${user.username}: ${res.status} ${res.json['code']}`);
      seeded.push({ ...user, subject: String(res.json['id']), password });
    }
    const client = await call('POST', '/admin/clients', {
      ...DEMO_CLIENT,
      redirectUris: options.redirectUris ?? ['http://127.0.0.1:8765/callback'],
    });
    if (client.status !== 201 && client.json['code'] !== 'identity_client_invalid')
      throw new Error(
        `identity refused client ${DEMO_CLIENT.clientId}: ${client.status} ${client.json['code']}`,
      );
    return seeded;
  } finally {
    await own?.close();
  }
}

async function adminToken(admin: IdentityAdmin, dispatcher: Dispatcher): Promise<string> {
  const { clientId, clientSecret, resource, scope } = admin.credentials;
  const res = await request(`${admin.url}/oidc/token`, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
  });
  const body = (await res.body.json()) as { access_token?: string; error?: string };
  if (!body.access_token)
    throw new Error(`identity refused the admin token: ${body.error ?? res.statusCode}`);
  return body.access_token;
}

/** The demo records, keyed by the seeded users' subjects (alice is dr-carol's patient; bob has none yet). */
export function demoPatients(users: readonly Pick<SeededUser, 'username' | 'subject'>[]): PatientSeed[] {
  const sub = (name: string) => {
    const u = users.find((x) => x.username === name);
    if (!u) throw new Error(`no seeded user ${name}`);
    return u.subject;
  };
  return [
    {
      id: sub('alice'),
      doctor: sub('dr-carol'),
      name: 'Alice Liddell',
      dateOfBirth: '1990-04-12',
      nationalId: '123-45-6789',
      notes: ['Seasonal asthma; salbutamol as needed'],
    },
    {
      id: sub('bob'),
      doctor: null,
      name: 'Robert Tables',
      dateOfBirth: '1985-11-02',
      nationalId: '987-65-4321',
      notes: [],
    },
  ];
}

export interface KeysAdmin {
  /** keys' base URL (`https://127.0.0.1:7303`). */
  keysUrl: string;
  keysCa: string;
  /** A caller listed in `components.keys.admins` (e.g. `spiffe://bulwark.local/cli`). */
  adminCaller: string;
  trustDomain?: string;
  /**
   * When `keys` serves mTLS (under `bulwark up`): a dispatcher presenting an admin's SVID (e.g. the
   * operator's) that accepts only `keys`' SVID; `keys` then ignores the caller header.
   */
  dispatcher?: Dispatcher;
}

/** Creates `clinic-pii` and `clinic-cards` with their ACLs; a key that exists already is left alone. */
export async function seedClinicKeys(options: KeysAdmin): Promise<void> {
  const td = options.trustDomain ?? 'bulwark.local';
  const svc = (name: string) => `spiffe://${td}/service/${name}`;
  const own = options.dispatcher ? undefined : new Agent({ connect: { ca: options.keysCa } });
  const dispatcher = options.dispatcher ?? own!;
  try {
    for (const key of [
      {
        name: 'clinic-pii',
        type: 'aes256-gcm',
        acl: { datakey: [svc('patients')], decrypt: [svc('patients')] },
      },
      { name: 'clinic-cards', type: 'aes256-gcm', acl: { tokenize: [svc('billing')] } },
    ]) {
      const res = await request(`${options.keysUrl.replace(/\/$/, '')}/v1/keys`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', 'x-bulwark-caller': options.adminCaller },
        body: JSON.stringify(key),
      });
      const body = (await res.body.json()) as { code?: string };
      if (res.statusCode !== 201 && body.code !== 'keys_key_exists')
        throw new Error(`keys refused key ${key.name}: ${res.statusCode} ${body.code ?? ''}`);
    }
  } finally {
    await own?.close();
  }
}
