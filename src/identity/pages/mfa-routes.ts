/**
 * The second factor: a TOTP or recovery code (no JavaScript), or a passkey (the one part that needs the
 * WebAuthn browser API), and TOTP enrolment when a role requires MFA or a client asks for it
 * (`acr_values`). Each failed code counts on the account's `mfa:` throttle key.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthMethod } from '../provider/acr.ts';
import type { IdentityServices } from '../services.ts';
import { escapeHtml, field, hidden, page } from './html.ts';
import {
  csrfToken,
  finishLogin,
  loadInteraction,
  loadPending,
  mayEnrolFactor,
  type PendingLogin,
  savePending,
  sendPage,
} from './interaction-kit.ts';

type UidParams = { Params: { uid: string } };
const uidSchema = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
};
const SECOND_FACTOR: AuthMethod[] = ['pwd', 'otp', 'mfa'];

function mfaPage(s: IdentityServices, uid: string, options: { error?: string; passkeys: boolean }): string {
  const csrf = hidden('csrf', csrfToken(s, uid));
  const passkey = options.passkeys
    ? `<section aria-labelledby="pk-h"><h2 id="pk-h">Passkey</h2><p>Needs JavaScript.</p>
<button type="button" id="passkey-authenticate" data-uid="${escapeHtml(uid)}" data-csrf="${escapeHtml(csrfToken(s, uid))}">Use a passkey</button></section>`
    : '';
  return page(
    'Two-step verification',
    `<form method="post" action="/interaction/${escapeHtml(uid)}/mfa">${csrf}
${field({ name: 'code', label: 'Code from your authenticator app', autocomplete: 'one-time-code', inputmode: 'numeric', invalid: Boolean(options.error) })}
<button type="submit">Verify</button></form>
<form method="post" action="/interaction/${escapeHtml(uid)}/mfa">${csrf}
${field({ name: 'recovery_code', label: 'Or a recovery code', autocomplete: 'off', hint: 'Each recovery code works once.' })}
<button type="submit" class="secondary">Use recovery code</button></form>${passkey}`,
    {
      ...(options.error ? { error: options.error } : {}),
      ...(options.passkeys ? { scripts: ['/assets/passkey.js'] } : {}),
    },
  );
}

async function requirePending(
  s: IdentityServices,
  req: FastifyRequest,
  reply: FastifyReply,
  uid: string,
): Promise<PendingLogin | undefined> {
  await loadInteraction(s, req, reply, uid);
  return loadPending(s, uid);
}

export function registerMfaRoutes(app: FastifyInstance, s: IdentityServices): void {
  app.get<UidParams>('/interaction/:uid/mfa', { schema: { params: uidSchema } }, async (req, reply) => {
    const { uid } = req.params;
    const pending = await requirePending(s, req, reply, uid);
    if (!pending) return reply.redirect(`/interaction/${uid}`, 303);
    return sendPage(reply, mfaPage(s, uid, { passkeys: (await s.passkeys.count(pending.userId)) > 0 }));
  });

  app.post<UidParams & { Body: { csrf: string; code?: string; recovery_code?: string } }>(
    '/interaction/:uid/mfa',
    {
      schema: {
        params: uidSchema,
        body: {
          type: 'object',
          required: ['csrf'],
          properties: {
            csrf: { type: 'string', maxLength: 128 },
            code: { type: 'string', maxLength: 16 },
            recovery_code: { type: 'string', maxLength: 32 },
          },
        },
      },
    },
    async (req, reply) => {
      const { uid } = req.params;
      const pending = await requirePending(s, req, reply, uid);
      if (!pending) return reply.redirect(`/interaction/${uid}`, 303);
      const key = `mfa:${pending.userId}`;
      const passkeys = (await s.passkeys.count(pending.userId)) > 0;
      const verdict = await s.throttle.check([key]);
      if (!verdict.allowed) {
        const seconds = Math.ceil(verdict.retryAfterMs / 1000);
        reply.header('retry-after', String(seconds));
        return sendPage(
          reply,
          mfaPage(s, uid, { passkeys, error: `Too many wrong codes. Wait ${seconds} seconds.` }),
          429,
        );
      }
      const { code, recovery_code: recovery } = req.body;
      const method = code ? 'totp' : 'recovery_code';
      const ok = code
        ? await s.totp.verify(pending.userId, code.trim())
        : recovery
          ? await s.recovery.use(pending.userId, recovery)
          : false;
      s.audit.record({
        actor: { type: 'user', id: pending.userId },
        action: 'identity.mfa.verify',
        outcome: ok ? 'success' : 'failure',
        source: { component: 'identity', ip: req.ip },
        details: { method },
      });
      if (!ok) {
        const outcome = await s.throttle.fail(key);
        if (outcome.locked) {
          s.audit.record({
            actor: { type: 'system', id: 'identity' },
            action: 'identity.lockout',
            target: { type: 'mfa', id: pending.userId },
            outcome: 'success',
            source: { component: 'identity', ip: req.ip },
          });
        }
        return sendPage(reply, mfaPage(s, uid, { passkeys, error: 'The code is not valid.' }), 401);
      }
      await s.throttle.succeed(key);
      return finishLogin(s, req, reply, uid, { userId: pending.userId, amr: SECOND_FACTOR });
    },
  );

  app.get<UidParams>('/interaction/:uid/mfa/enrol', { schema: { params: uidSchema } }, async (req, reply) => {
    const { uid } = req.params;
    const pending = await requirePending(s, req, reply, uid);
    if (!pending) return reply.redirect(`/interaction/${uid}`, 303);
    // A confirmed TOTP is not replaced here; any existing factor must be verified before adding one.
    if ((await s.totp.status(pending.userId)) === 'confirmed' || !(await mayEnrolFactor(s, pending)))
      return reply.redirect(`/interaction/${uid}/mfa`, 303);
    const user = await s.users.require(pending.userId);
    const enrolment = await s.totp.begin(pending.userId, user.username);
    return sendPage(
      reply,
      page(
        'Set up two-step verification',
        `<p>Your account needs a second factor. Add this key to an authenticator app, then enter the code it shows.</p>
<p>Key: <code id="totp-secret">${escapeHtml(enrolment.secret)}</code></p>
<p>Or open this link on the device with the app: <a href="${escapeHtml(enrolment.uri)}" id="totp-uri">otpauth link</a></p>
<form method="post" action="/interaction/${escapeHtml(uid)}/mfa/enrol">${hidden('csrf', csrfToken(s, uid))}
${field({ name: 'code', label: 'Code from the app', autocomplete: 'one-time-code', inputmode: 'numeric' })}
<button type="submit">Turn on</button></form>
<section aria-labelledby="pk-h"><h2 id="pk-h">Or a passkey</h2><p>Needs JavaScript.</p>
<button type="button" id="passkey-register" data-uid="${escapeHtml(uid)}" data-csrf="${escapeHtml(csrfToken(s, uid))}">Create a passkey</button></section>`,
        { scripts: ['/assets/passkey.js'] },
      ),
    );
  });

  app.post<UidParams & { Body: { csrf: string; code: string } }>(
    '/interaction/:uid/mfa/enrol',
    {
      schema: {
        params: uidSchema,
        body: {
          type: 'object',
          required: ['csrf', 'code'],
          properties: { csrf: { type: 'string', maxLength: 128 }, code: { type: 'string', maxLength: 16 } },
        },
      },
    },
    async (req, reply) => {
      const { uid } = req.params;
      const pending = await requirePending(s, req, reply, uid);
      if (!pending) return reply.redirect(`/interaction/${uid}`, 303);
      if (!(await mayEnrolFactor(s, pending))) {
        s.audit.record({
          actor: { type: 'user', id: pending.userId },
          action: 'identity.mfa.enrol',
          outcome: 'failure',
          reason: 'second_factor_not_verified',
          source: { component: 'identity', ip: req.ip },
          details: { method: 'totp' },
        });
        return reply.redirect(`/interaction/${uid}/mfa`, 303);
      }
      const key = `mfa:${pending.userId}`;
      const verdict = await s.throttle.check([key]);
      const ok =
        verdict.allowed &&
        (await s.totp.status(pending.userId)) === 'pending' &&
        (await s.totp.verify(pending.userId, req.body.code.trim()));
      if (!ok) {
        if (verdict.allowed) await s.throttle.fail(key);
        return reply.redirect(`/interaction/${uid}/mfa/enrol`, 303);
      }
      await s.throttle.succeed(key);
      const codes = await s.recovery.generate(pending.userId);
      await savePending(s, uid, { userId: pending.userId, amr: SECOND_FACTOR });
      s.audit.record({
        actor: { type: 'user', id: pending.userId },
        action: 'identity.mfa.enrol',
        outcome: 'success',
        source: { component: 'identity', ip: req.ip },
        details: { method: 'totp' },
      });
      return sendPage(
        reply,
        page(
          'Save your recovery codes',
          `<p>Each code signs you in once if you lose your authenticator. They are shown only now.</p>
<ul id="recovery-codes">${codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('')}</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/mfa/done">${hidden('csrf', csrfToken(s, uid))}<button type="submit">Continue</button></form>`,
        ),
      );
    },
  );

  app.post<UidParams & { Body: { csrf: string } }>(
    '/interaction/:uid/mfa/done',
    {
      schema: {
        params: uidSchema,
        body: {
          type: 'object',
          required: ['csrf'],
          properties: { csrf: { type: 'string', maxLength: 128 } },
        },
      },
    },
    async (req, reply) => {
      const { uid } = req.params;
      const pending = await requirePending(s, req, reply, uid);
      // Only a pending login whose second factor was verified during enrolment may finish here.
      if (!pending?.amr.includes('mfa')) return reply.redirect(`/interaction/${uid}`, 303);
      return finishLogin(s, req, reply, uid, pending);
    },
  );
}
