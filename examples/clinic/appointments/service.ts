/**
 * `appointments`, on the Bulwark Node SDK. Creating or listing appointments asks `patients` over mTLS
 * (MeshClient, which accepts only `patients`' SVID) whether the patient exists, who their doctor is and
 * what their name is; the policy lets `appointments` reach only `patients`' directory path.
 *
 * | user | may |
 * |---|---|
 * | `patient` | book and list their own appointments |
 * | `doctor` | book and list appointments of their own patients |
 * | `admin` | everything |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditSink } from '../../../src/core/index.ts';
import type { PeerIdentity } from '../../../src/core/mtls/index.ts';
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
import { type Appointment, AppointmentStore } from './store.ts';

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(\.\d+)?Z$/;

export interface AppointmentsOptions extends MeshOptions {
  dataDir: string;
  gatewayJwks: JwksSource;
  gatewayPeer?: string;
  port?: number;
  host?: string;
  advertiseHost?: string;
  audit?: AuditSink;
}

export interface RunningAppointments {
  url: string;
  port: number;
  spiffeId: string;
  close(): Promise<void>;
}

interface DirectoryEntry {
  id: string;
  name: string;
  doctor: string | null;
}

export async function startAppointments(options: AppointmentsOptions): Promise<RunningAppointments> {
  const mesh: ClinicMesh = await joinClinicMesh(options);
  const verifier = new EndUserVerifier({
    audience: 'appointments',
    jwks: options.gatewayJwks,
    gatewayPeer: options.gatewayPeer ?? `spiffe://${mesh.identity.trustDomain}/service/gateway`,
  });
  const store = new AppointmentStore(options.dataDir);

  /** One mTLS call to `patients`; a refusal there is an error here, never a guess. */
  async function lookup(patientId: string): Promise<DirectoryEntry | undefined> {
    const res = await mesh.client.fetch(
      'patients',
      `/v1/directory/patients/${encodeURIComponent(patientId)}`,
    );
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ClinicError('clinic_patients_unavailable', 502, `patients answered ${res.status}`);
    }
    return (await res.json()) as DirectoryEntry;
  }

  const mayUse = (user: EndUser, patient: DirectoryEntry) =>
    hasRole(user, 'admin') ||
    (hasRole(user, 'patient') && user.subject === patient.id) ||
    (hasRole(user, 'doctor') && patient.doctor === user.subject);

  async function withNames(list: Appointment[]) {
    const names = new Map<string, string>();
    for (const id of new Set(list.map((a) => a.patientId))) names.set(id, (await lookup(id))?.name ?? '');
    return list.map((a) => ({ ...a, patientName: names.get(a.patientId) ?? '' }));
  }

  const deny = (user: EndUser, action: string, id: string) => {
    options.audit?.record({
      actor: { type: 'user', id: user.subject },
      action: `clinic.appointments.${action}`,
      target: { type: 'patient', id },
      outcome: 'failure',
      reason: 'forbidden',
      source: { component: 'appointments' },
    });
    return new ClinicError('clinic_forbidden', 403, 'not your patient');
  };

  const router = new Router<EndUser>()
    .on('POST', '/v1/appointments', async (user, _p, req, res) => {
      const body = await readJson(req);
      const patientId = requireString(body, 'patientId', ID);
      const at = requireString(body, 'at', DATETIME);
      const reason = requireString(body, 'reason');
      const patient = await lookup(patientId);
      // Unknown and foreign patients answer alike for non-admins: no probing through appointments.
      if (!patient) {
        if (hasRole(user, 'admin')) throw new ClinicError('clinic_not_found', 404, 'no such patient');
        throw deny(user, 'create', patientId);
      }
      if (!mayUse(user, patient)) throw deny(user, 'create', patientId);
      const created = store.create({
        patientId,
        doctor: patient.doctor,
        at,
        reason,
        createdBy: user.subject,
      });
      sendJson(res, 201, { ...created, patientName: patient.name });
    })
    .on('GET', '/v1/appointments', async (user, _p, _req, res) => {
      let list: Appointment[];
      if (hasRole(user, 'admin')) list = store.list();
      else if (hasRole(user, 'doctor')) list = store.list({ doctor: user.subject });
      else if (hasRole(user, 'patient')) list = store.list({ patientId: user.subject });
      else throw new ClinicError('clinic_forbidden', 403, 'no role that may list appointments');
      sendJson(res, 200, { appointments: await withNames(list) });
    })
    .on('GET', '/v1/appointments/:id', async (user, params, _req, res) => {
      const a = store.get(params['id']!);
      const ok =
        a !== undefined &&
        (hasRole(user, 'admin') ||
          (hasRole(user, 'patient') && a.patientId === user.subject) ||
          (hasRole(user, 'doctor') && a.doctor === user.subject));
      if (!ok) throw deny(user, 'read', a?.patientId ?? 'unknown');
      sendJson(res, 200, (await withNames([a!]))[0]);
    });

  const handler = async (
    req: IncomingMessage,
    res: ServerResponse,
    peer: PeerIdentity,
    target: DecidedTarget,
  ) => {
    try {
      const route = router.match(req.method ?? 'GET', target.path);
      const user = await verifier.verify(peer.spiffeId.uri, req.headers[ASSERTION_HEADER]);
      await route.handler(user, route.params, req, res);
    } catch (err) {
      sendProblem(res, err);
    }
  };
  // The listen settings (port, host, advertised host) and the audit sink come with the options.
  const served = await serveMesh(mesh, handler, { ...options, component: 'appointments' });
  return {
    url: served.url,
    port: served.port,
    spiffeId: mesh.identity.spiffeId,
    close: async () => {
      await served.close();
      await mesh.close();
      store.close();
    },
  };
}
