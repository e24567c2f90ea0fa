/**
 * WebAuthn ceremonies for the second factor, as JSON endpoints the passkey script calls (the only part of
 * sign-in that needs JavaScript). Registration happens during enrolment, after the password; either
 * ceremony, when verified, marks the pending login as multi-factor, and the script then posts the
 * ordinary `mfa/done` form.
 */
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyInstance } from 'fastify';
import { identityError } from '../errors.ts';
import type { AuthMethod } from '../provider/acr.ts';
import type { IdentityServices } from '../services.ts';
import { loadInteraction, loadPending, mayEnrolFactor, savePending } from './interaction-kit.ts';

type UidParams = { Params: { uid: string } };
const uidSchema = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
};
const csrfBody = {
  type: 'object',
  required: ['csrf'],
  properties: { csrf: { type: 'string', maxLength: 128 } },
};
const responseBody = {
  type: 'object',
  required: ['csrf', 'response'],
  properties: { csrf: { type: 'string', maxLength: 128 }, response: { type: 'object' } },
};
// RFC 8176: hwk (proof of possession of a hardware-secured key), user (user presence/verification).
const PASSKEY_AMR: AuthMethod[] = ['pwd', 'hwk', 'user', 'mfa'];

export function registerPasskeyRoutes(app: FastifyInstance, s: IdentityServices): void {
  const pendingFor = async (
    req: Parameters<typeof loadInteraction>[1],
    reply: Parameters<typeof loadInteraction>[2],
    uid: string,
  ) => {
    await loadInteraction(s, req, reply, uid);
    const pending = await loadPending(s, uid);
    if (!pending) throw identityError('identity_interaction_expired', 'sign in with your password first');
    return pending;
  };
  /** Registration adds a factor: refused when the account has one this login has not proved yet. */
  const enrollingFor = async (
    req: Parameters<typeof loadInteraction>[1],
    reply: Parameters<typeof loadInteraction>[2],
    uid: string,
  ) => {
    const pending = await pendingFor(req, reply, uid);
    if (!(await mayEnrolFactor(s, pending))) {
      s.audit.record({
        actor: { type: 'user', id: pending.userId },
        action: 'identity.mfa.enrol',
        outcome: 'failure',
        reason: 'second_factor_not_verified',
        source: { component: 'identity', ip: req.ip },
        details: { method: 'passkey' },
      });
      throw identityError(
        'identity_mfa_enrolment_refused',
        'this account has a second factor: verify it before adding another',
      );
    }
    return pending;
  };

  app.post<UidParams>(
    '/interaction/:uid/passkey/register/options',
    { schema: { params: uidSchema, body: csrfBody } },
    async (req, reply) => {
      const pending = await enrollingFor(req, reply, req.params.uid);
      const user = await s.users.require(pending.userId);
      return reply
        .header('cache-control', 'no-store')
        .send(await s.passkeys.registrationOptions(req.params.uid, user));
    },
  );

  app.post<UidParams & { Body: { response: RegistrationResponseJSON } }>(
    '/interaction/:uid/passkey/register',
    { schema: { params: uidSchema, body: responseBody } },
    async (req, reply) => {
      const { uid } = req.params;
      const pending = await enrollingFor(req, reply, uid);
      const ok = await s.passkeys.register(uid, pending.userId, req.body.response);
      s.audit.record({
        actor: { type: 'user', id: pending.userId },
        action: 'identity.mfa.enrol',
        outcome: ok ? 'success' : 'failure',
        source: { component: 'identity', ip: req.ip },
        details: { method: 'passkey' },
      });
      if (!ok) throw identityError('identity_mfa_invalid', 'the passkey could not be verified');
      await savePending(s, uid, { userId: pending.userId, amr: PASSKEY_AMR });
      return { ok: true, next: `/interaction/${uid}/mfa/done` };
    },
  );

  app.post<UidParams>(
    '/interaction/:uid/passkey/authenticate/options',
    { schema: { params: uidSchema, body: csrfBody } },
    async (req, reply) => {
      const pending = await pendingFor(req, reply, req.params.uid);
      return reply
        .header('cache-control', 'no-store')
        .send(await s.passkeys.authenticationOptions(req.params.uid, pending.userId));
    },
  );

  app.post<UidParams & { Body: { response: AuthenticationResponseJSON } }>(
    '/interaction/:uid/passkey/authenticate',
    { schema: { params: uidSchema, body: responseBody } },
    async (req, reply) => {
      const { uid } = req.params;
      const pending = await pendingFor(req, reply, uid);
      const key = `mfa:${pending.userId}`;
      const verdict = await s.throttle.check([key]);
      if (!verdict.allowed)
        throw identityError('identity_throttled', 'too many failed attempts', {
          headers: { 'retry-after': String(Math.ceil(verdict.retryAfterMs / 1000)) },
        });
      const ok = await s.passkeys.authenticate(uid, pending.userId, req.body.response);
      s.audit.record({
        actor: { type: 'user', id: pending.userId },
        action: 'identity.mfa.verify',
        outcome: ok ? 'success' : 'failure',
        source: { component: 'identity', ip: req.ip },
        details: { method: 'passkey' },
      });
      if (!ok) {
        await s.throttle.fail(key);
        throw identityError('identity_mfa_invalid', 'the passkey could not be verified');
      }
      await s.throttle.succeed(key);
      await savePending(s, uid, { userId: pending.userId, amr: PASSKEY_AMR });
      return { ok: true, next: `/interaction/${uid}/mfa/done` };
    },
  );
}

/** The passkey script: served from our origin so the CSP needs no inline script. */
export const PASSKEY_SCRIPT = `'use strict';
(function () {
  const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  async function post(url, body) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
    if (!res.ok) throw new Error('request failed');
    return res.json();
  }
  function finish(next, csrf) {
    const form = document.createElement('form');
    form.method = 'post'; form.action = next;
    const input = document.createElement('input');
    input.type = 'hidden'; input.name = 'csrf'; input.value = csrf;
    form.appendChild(input); document.body.appendChild(form); form.submit();
  }
  const reg = document.getElementById('passkey-register');
  if (reg) reg.addEventListener('click', async () => {
    const { uid, csrf } = reg.dataset;
    const o = await post('/interaction/' + uid + '/passkey/register/options', { csrf });
    const cred = await navigator.credentials.create({ publicKey: { ...o, challenge: unb64u(o.challenge), user: { ...o.user, id: unb64u(o.user.id) },
      excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: unb64u(c.id) })) } });
    const response = { id: cred.id, rawId: b64u(cred.rawId), type: cred.type, clientExtensionResults: {},
      response: { clientDataJSON: b64u(cred.response.clientDataJSON), attestationObject: b64u(cred.response.attestationObject), transports: cred.response.getTransports ? cred.response.getTransports() : [] } };
    const r = await post('/interaction/' + uid + '/passkey/register', { csrf, response });
    finish(r.next, csrf);
  });
  const auth = document.getElementById('passkey-authenticate');
  if (auth) auth.addEventListener('click', async () => {
    const { uid, csrf } = auth.dataset;
    const o = await post('/interaction/' + uid + '/passkey/authenticate/options', { csrf });
    const cred = await navigator.credentials.get({ publicKey: { ...o, challenge: unb64u(o.challenge), allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: unb64u(c.id) })) } });
    const response = { id: cred.id, rawId: b64u(cred.rawId), type: cred.type, clientExtensionResults: {},
      response: { clientDataJSON: b64u(cred.response.clientDataJSON), authenticatorData: b64u(cred.response.authenticatorData), signature: b64u(cred.response.signature),
        userHandle: cred.response.userHandle ? b64u(cred.response.userHandle) : undefined } };
    const r = await post('/interaction/' + uid + '/passkey/authenticate', { csrf, response });
    finish(r.next, csrf);
  });
})();
`;
