/**
 * `patients`: health records with PII (name, date of birth, national id, diagnosis notes), on the
 * Bulwark Node SDK. It serves only mTLS (SDK mesh server, service-to-service Cedar policy), encrypts
 * every PII field at rest through `keys` (FieldCipher, envelope encryption), and decides per record:
 *
 * | caller | may |
 * |---|---|
 * | gateway, user `patient` | read their own record (record id = their subject) |
 * | gateway, user `doctor` | read, create and annotate records of their own patients (national id masked) |
 * | gateway, user `admin` | everything |
 * | gateway, user `billing-clerk` | nothing here |
 * | service `appointments` | `GET /v1/directory/patients/:id`: id, name and doctor only |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditSink } from '../../../src/core/index.ts';
import type { PeerIdentity } from '../../../src/core/mtls/index.ts';
import { FieldCipher, KeysClient, maskValue } from '../../../src/sdk/keys/index.ts';
import type { DecidedTarget } from '../../../src/sdk/mesh/index.ts';
import {
  ASSERTION_HEADER,
  type EndUser,
  EndUserVerifier,
  hasRole,
  type JwksSource,
} from '../shared/end-user.ts';
import { ClinicError, Router, readJson, requireString, sendJson, sendProblem } from '../shared/http.ts';
import { type ClinicMesh, joinClinicMesh, type MeshOptions, serveMesh } from '../shared/mesh.ts';
import { PatientStore, type StoredPatient } from './store.ts';

export const PII_KEY = 'clinic-pii';
const TENANT = 'clinic';
const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface PatientSeed {
  id: string;
  doctor: string | null;
  name: string;
  dateOfBirth: string;
  nationalId: string;
  notes?: string[];
}

export interface PatientsOptions extends MeshOptions {
  /** Directory of `patients.db`. */
  dataDir: string;
  /** The gateway's assertion keys: `{ url, ca }` of `GET /v1/gateway/jwks.json`, or `{ keys }`. */
  gatewayJwks: JwksSource;
  /** SPIFFE ID user requests must come from (default `spiffe://<trust domain>/service/gateway`). */
  gatewayPeer?: string;
  port?: number;
  host?: string;
  advertiseHost?: string;
  audit?: AuditSink;
  /** Records created at start when missing (the demo data). */
  seed?: readonly PatientSeed[];
  /**
   * `keys`' URL when it serves mTLS with its own SVID (under `bulwark up`): called directly, accepting only
   * `spiffe://<td>/service/keys`, and `keys` reads this service's identity from its certificate. Without
   * it, `keys` is found in discovery (the keys ingress, see the README).
   */
  keysUrl?: string;
  /** How long to wait for `keys` to appear in discovery at start. */
  keysWaitMs?: number;
}

export interface RunningPatients {
  url: string;
  port: number;
  spiffeId: string;
  dataFile: string;
  close(): Promise<void>;
}

interface Ctx {
  peer: PeerIdentity;
  user?: EndUser;
}

/**
 * @example
 * const patients = await startPatients({ authorityUrl, authorityCa, joinToken, dataDir, gatewayJwks: { url, ca } });
 */
export async function startPatients(options: PatientsOptions): Promise<RunningPatients> {
  const mesh: ClinicMesh = await joinClinicMesh(options);
  const td = mesh.identity.trustDomain;
  const appointmentsPeer = `spiffe://${td}/service/appointments`;
  const verifier = new EndUserVerifier({
    audience: 'patients',
    jwks: options.gatewayJwks,
    gatewayPeer: options.gatewayPeer ?? `spiffe://${td}/service/gateway`,
  });
  const keysUrl = options.keysUrl ?? (await resolveKeys(mesh, options.keysWaitMs ?? 10_000));
  const keys = new KeysClient({
    url: keysUrl,
    caller: mesh.identity.spiffeId,
    dispatcher: mesh.client.dispatcher('keys'),
  });
  const fields = new FieldCipher({ client: keys, key: PII_KEY });
  const store = new PatientStore(options.dataDir);
  const audit = options.audit;

  const seal = (id: string, field: string, value: string) =>
    fields.encryptField(value, { tenant: TENANT, record: id, field });
  const open = async (p: StoredPatient, field: keyof StoredPatient) =>
    (await fields.decryptField(String(p[field]), { tenant: TENANT, record: p.id, field })).toString('utf8');

  async function create(input: PatientSeed): Promise<boolean> {
    return store.insert({
      id: input.id,
      doctor: input.doctor,
      name: await seal(input.id, 'name', input.name),
      dateOfBirth: await seal(input.id, 'dateOfBirth', input.dateOfBirth),
      nationalId: await seal(input.id, 'nationalId', input.nationalId),
      notes: await seal(input.id, 'notes', JSON.stringify(input.notes ?? [])),
      createdAt: new Date().toISOString(),
    });
  }
  for (const seed of options.seed ?? []) await create(seed);

  /** The record as this user may see it: doctors get the national id masked (minimum necessary). */
  async function view(p: StoredPatient, user: EndUser) {
    const nationalId = await open(p, 'nationalId');
    return {
      id: p.id,
      doctor: p.doctor,
      name: await open(p, 'name'),
      dateOfBirth: await open(p, 'dateOfBirth'),
      nationalId: hasRole(user, 'admin') || user.subject === p.id ? nationalId : maskValue('ssn', nationalId),
      notes: JSON.parse(await open(p, 'notes')) as string[],
    };
  }

  const mayRead = (user: EndUser, p: StoredPatient) =>
    hasRole(user, 'admin') ||
    (hasRole(user, 'patient') && user.subject === p.id) ||
    (hasRole(user, 'doctor') && p.doctor === user.subject);
  const mayWrite = (user: EndUser, p: StoredPatient) =>
    hasRole(user, 'admin') || (hasRole(user, 'doctor') && p.doctor === user.subject);

  const record = (user: EndUser | undefined, actor: string, action: string, id: string, allowed: boolean) =>
    audit?.record({
      actor: user ? { type: 'user', id: user.subject } : { type: 'service', id: actor },
      action: `clinic.patients.${action}`,
      target: { type: 'patient', id },
      outcome: allowed ? 'success' : 'failure',
      ...(allowed ? {} : { reason: 'forbidden' }),
      category: 'health',
      source: { component: 'patients' },
    });

  /** A missing record and a forbidden one answer alike, so ids cannot be probed. */
  const readable = (
    ctx: Ctx,
    id: string,
    check: (u: EndUser, p: StoredPatient) => boolean,
    action: string,
  ) => {
    const user = ctx.user!;
    const p = store.get(id);
    if (!p && hasRole(user, 'admin')) throw new ClinicError('clinic_not_found', 404, 'no such patient');
    const ok = p !== undefined && check(user, p);
    record(user, ctx.peer.spiffeId.uri, action, id, ok);
    if (!ok) throw new ClinicError('clinic_forbidden', 403, 'this record is not yours to see');
    return p!;
  };

  const router = new Router<Ctx>()
    .on('GET', '/v1/patients', async (ctx, _p, _req, res) => {
      const user = ctx.user!;
      let rows: StoredPatient[];
      if (hasRole(user, 'admin')) rows = store.list();
      else if (hasRole(user, 'doctor')) rows = store.list(user.subject);
      else if (hasRole(user, 'patient')) rows = [store.get(user.subject)].filter((p) => p !== undefined);
      else throw new ClinicError('clinic_forbidden', 403, 'no role that may list patients');
      record(user, '', 'list', '*', true);
      sendJson(res, 200, { patients: await Promise.all(rows.map((p) => view(p, user))) });
    })
    .on('GET', '/v1/patients/:id', async (ctx, params, _req, res) => {
      const id = params['id'] === 'me' ? ctx.user!.subject : params['id']!;
      sendJson(res, 200, await view(readable(ctx, id, mayRead, 'read'), ctx.user!));
    })
    .on('POST', '/v1/patients', async (ctx, _p, req, res) => {
      const user = ctx.user!;
      if (!hasRole(user, 'admin') && !hasRole(user, 'doctor'))
        throw new ClinicError('clinic_forbidden', 403, 'only doctors and admins create records');
      const body = await readJson(req);
      const input: PatientSeed = {
        id: requireString(body, 'id', ID),
        name: requireString(body, 'name'),
        dateOfBirth: requireString(body, 'dateOfBirth', DATE),
        nationalId: requireString(body, 'nationalId', /^[0-9-]{4,20}$/),
        // A doctor creates records of their own patients only; an admin names the doctor.
        doctor: hasRole(user, 'admin') && typeof body['doctor'] === 'string' ? body['doctor'] : user.subject,
      };
      if (!(await create(input)))
        throw new ClinicError('clinic_conflict', 409, 'a record with this id exists');
      record(user, '', 'create', input.id, true);
      sendJson(res, 201, await view(store.get(input.id)!, user));
    })
    .on('POST', '/v1/patients/:id/notes', async (ctx, params, req, res) => {
      const p = readable(ctx, params['id']!, mayWrite, 'annotate');
      const note = requireString(await readJson(req), 'note');
      const notes = JSON.parse(await open(p, 'notes')) as string[];
      notes.push(note);
      store.setNotes(p.id, await seal(p.id, 'notes', JSON.stringify(notes)));
      sendJson(res, 200, await view(store.get(p.id)!, ctx.user!));
    })
    .on('GET', '/v1/directory/patients/:id', async (ctx, params, _req, res) => {
      // Cedar lets only `appointments` reach this path; checked again here so that a broader permit
      // added to the policy later cannot open the directory to others.
      if (ctx.peer.spiffeId.uri !== appointmentsPeer)
        throw new ClinicError('clinic_forbidden', 403, 'the directory is for appointments only');
      const p = store.get(params['id']!);
      if (!p) throw new ClinicError('clinic_not_found', 404, 'no such patient');
      sendJson(res, 200, { id: p.id, name: await open(p, 'name'), doctor: p.doctor });
    });

  const handler = async (
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerIdentity,
    target: DecidedTarget,
  ) => {
    try {
      const route = router.match(req.method ?? 'GET', target.path);
      const ctx: Ctx = { peer };
      if (!target.path.startsWith('/v1/directory/'))
        ctx.user = await verifier.verify(peer.spiffeId.uri, req.headers[ASSERTION_HEADER]);
      await route.handler(ctx, route.params, req, res);
    } catch (err) {
      sendProblem(res, err);
    }
  };
  // The listen settings (port, host, advertised host) and the audit sink come with the options.
  const served = await serveMesh(mesh, handler, { ...options, component: 'patients' });
  return {
    url: served.url,
    port: served.port,
    spiffeId: mesh.identity.spiffeId,
    dataFile: store.file,
    close: async () => {
      await served.close();
      fields.clear();
      await keys.close();
      await mesh.close();
      store.close();
    },
  };
}

/** The `keys` mesh entry, from discovery (it may still be starting). */
async function resolveKeys(mesh: ClinicMesh, waitMs: number): Promise<string> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [instance] = await mesh.authority.resolve('keys').catch(() => []);
    if (instance)
      return `https://${instance.host.includes(':') ? `[${instance.host}]` : instance.host}:${instance.port}`;
    if (Date.now() > deadline)
      throw new ClinicError('clinic_keys_unavailable', 503, 'keys is not in discovery');
    await new Promise((r) => setTimeout(r, 250));
  }
}
