/**
 * `billing`: card payments. It knows nothing of Bulwark (plain node:http, no import from src/): it listens
 * on loopback behind its sidecar (`bulwark sidecar --app-port ...`), which terminates mTLS, checks the
 * service-to-service policy and tells it the verified caller in `x-bulwark-peer-id`. Calls out go to the
 * sidecar's loopback outbound ports as plain HTTP; the sidecar originates mTLS:
 *
 * - `keys` tokenize (`POST /v1/keys/clinic-cards/tokenize`, format `card`, last four kept): card numbers
 *   are never stored, only the token and the last four digits;
 * - `patients`, only to show that the policy refuses it (`GET /v1/billing/patients-probe/:id`).
 *
 * | user | may |
 * |---|---|
 * | `billing-clerk` | take payments, list all payments with the card masked to its last four |
 * | `patient` | pay and list their own payments (masked) |
 * | `admin` | everything, the vault token included |
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ASSERTION_HEADER,
  type EndUser,
  EndUserVerifier,
  hasRole,
  type JwksSource,
} from '../shared/end-user.ts';
import {
  ClinicError,
  pathOf,
  Router,
  readJson,
  requireString,
  sendJson,
  sendProblem,
} from '../shared/http.ts';
import { type Payment, PaymentStore } from './store.ts';

export const CARD_KEY = 'clinic-cards';
const ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface BillingOptions {
  dataDir: string;
  /** Loopback port the sidecar forwards to (0 picks one). */
  port?: number;
  /** The sidecar's outbound port for `keys`, as a URL: `http://127.0.0.1:15002`. */
  keysUrl: string;
  /** The sidecar's outbound port for `patients` (only used to show the refusal). */
  patientsUrl?: string;
  gatewayJwks: JwksSource;
  /** SPIFFE ID user requests must come from. */
  gatewayPeer?: string;
  /** The header the sidecar puts the verified caller in (`--identity-header`). */
  peerHeader?: string;
}

export interface RunningBilling {
  url: string;
  port: number;
  dataFile: string;
  close(): Promise<void>;
}

/** Luhn (ISO/IEC 7812-1): catches typos before a real number is sent to the vault. */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

const masked = (last4: string) => `**** **** **** ${last4}`;

export async function startBilling(options: BillingOptions): Promise<RunningBilling> {
  const store = new PaymentStore(options.dataDir);
  const peerHeader = options.peerHeader ?? 'x-bulwark-peer-id';
  const verifier = new EndUserVerifier({
    audience: 'billing',
    jwks: options.gatewayJwks,
    gatewayPeer: options.gatewayPeer ?? 'spiffe://bulwark.local/service/gateway',
  });
  const keysUrl = options.keysUrl.replace(/\/$/, '');

  async function tokenize(card: string): Promise<string> {
    const res = await fetch(`${keysUrl}/v1/keys/${CARD_KEY}/tokenize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: card, format: 'card', keep_last: 4 }),
    });
    const body = (await res.json().catch(() => ({}))) as { token?: string; code?: string };
    // The card number is in neither the error nor the log: only the vault's answer code.
    if (res.status !== 200 || typeof body.token !== 'string')
      throw new ClinicError('clinic_tokenize_failed', 502, `the vault refused (${body.code ?? res.status})`);
    return body.token;
  }

  const view = (p: Payment, user: EndUser) =>
    hasRole(user, 'admin')
      ? { ...p, card: masked(p.cardLast4) }
      : {
          id: p.id,
          patientId: p.patientId,
          amountCents: p.amountCents,
          card: masked(p.cardLast4),
          createdAt: p.createdAt,
        };

  const mayPayFor = (user: EndUser, patientId: string) =>
    hasRole(user, 'admin') ||
    hasRole(user, 'billing-clerk') ||
    (hasRole(user, 'patient') && user.subject === patientId);

  const router = new Router<EndUser>()
    .on('POST', '/v1/payments', async (user, _p, req, res) => {
      const body = await readJson(req);
      const patientId = requireString(body, 'patientId', ID);
      const amountCents = body['amountCents'];
      if (
        typeof amountCents !== 'number' ||
        !Number.isInteger(amountCents) ||
        amountCents <= 0 ||
        amountCents > 10_000_000
      )
        throw new ClinicError('clinic_invalid_request', 400, 'field amountCents is missing or malformed');
      const card = requireString(body, 'cardNumber').replace(/[ -]/g, '');
      if (!/^\d{13,19}$/.test(card) || !luhn(card))
        throw new ClinicError('clinic_invalid_request', 400, 'field cardNumber is not a card number');
      if (!mayPayFor(user, patientId)) throw new ClinicError('clinic_forbidden', 403, 'not your bill');
      const token = await tokenize(card);
      const payment = store.create({
        patientId,
        amountCents,
        cardToken: token,
        cardLast4: card.slice(-4),
        createdBy: user.subject,
      });
      sendJson(res, 201, view(payment, user));
    })
    .on('GET', '/v1/payments', async (user, _p, _req, res) => {
      let list: Payment[];
      if (hasRole(user, 'admin') || hasRole(user, 'billing-clerk')) list = store.list();
      else if (hasRole(user, 'patient')) list = store.list(user.subject);
      else throw new ClinicError('clinic_forbidden', 403, 'no role that may list payments');
      sendJson(res, 200, { payments: list.map((p) => view(p, user)) });
    })
    .on('GET', '/v1/payments/:id', async (user, params, _req, res) => {
      const p = store.get(params['id']!);
      const ok =
        p !== undefined &&
        (hasRole(user, 'admin') ||
          hasRole(user, 'billing-clerk') ||
          (hasRole(user, 'patient') && p.patientId === user.subject));
      if (!ok) throw new ClinicError('clinic_forbidden', 403, 'not your payment');
      sendJson(res, 200, view(p!, user));
    })
    .on('GET', '/v1/billing/patients-probe/:id', async (user, params, _req, res) => {
      // Shows the mesh at work: billing has no business reading health records, and the
      // service-to-service policy says so whatever billing's code tries.
      if (!hasRole(user, 'admin') && !hasRole(user, 'billing-clerk'))
        throw new ClinicError('clinic_forbidden', 403, 'for staff only');
      if (!options.patientsUrl)
        throw new ClinicError('clinic_not_found', 404, 'no route to patients configured');
      const answer = await fetch(
        `${options.patientsUrl.replace(/\/$/, '')}/v1/directory/patients/${encodeURIComponent(params['id']!)}`,
      );
      const body = (await answer.json().catch(() => ({}))) as { code?: string };
      sendJson(res, 200, {
        reachable: answer.status === 200,
        status: answer.status,
        code: body.code ?? null,
      });
    });

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        // Health for `bulwark status` and the supervisor (loopback only; says nothing about any user).
        const path = pathOf(req.url);
        if (req.method === 'GET' && (path === '/healthz' || path === '/readyz'))
          return sendJson(res, 200, { status: 'ok' });
        const route = router.match(req.method ?? 'GET', path);
        const peer = req.headers[peerHeader];
        const user = await verifier.verify(
          typeof peer === 'string' ? peer : undefined,
          req.headers[ASSERTION_HEADER],
        );
        await route.handler(user, route.params, req, res);
      } catch (err) {
        sendProblem(res, err);
      }
    })();
  });
  // Loopback only: the peer header is trustworthy because nothing but the sidecar can reach this port.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataFile: store.file,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.close();
    },
  };
}
