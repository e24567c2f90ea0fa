/**
 * The password step, consent and cancel. No message or timing tells whether an account exists: unknown
 * users get the same text and status, and a dummy Argon2 verification takes the time a real one would.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { deviceFor, issueDeviceCookie } from '../login/device-cookie.ts';
import { ACR_MFA } from '../provider/acr.ts';
import type { IdentityServices } from '../services.ts';
import { needsRehash, verifyDummy, verifyPassword } from '../users/password-hash.ts';
import { escapeHtml, field, hidden, page } from './html.ts';
import {
  csrfToken,
  finishLogin,
  hasSecondFactor,
  loadInteraction,
  loadPending,
  savePending,
  sendPage,
} from './interaction-kit.ts';

const BAD_CREDENTIALS = 'The username or password is incorrect.';

type UidParams = { Params: { uid: string } };
const uidSchema = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
};
const csrfOnly = {
  type: 'object',
  required: ['csrf'],
  properties: { csrf: { type: 'string', maxLength: 128 } },
};

export function loginPage(
  s: IdentityServices,
  uid: string,
  options: { error?: string; login?: string } = {},
): string {
  return page(
    'Sign in',
    `<form method="post" action="/interaction/${escapeHtml(uid)}/login" novalidate>
${hidden('csrf', csrfToken(s, uid))}
${field({ name: 'login', label: 'Username or e-mail', autocomplete: 'username', value: options.login ?? '', invalid: Boolean(options.error) })}
${field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', invalid: Boolean(options.error) })}
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">${hidden('csrf', csrfToken(s, uid))}<button type="submit" class="secondary">Cancel</button></form>`,
    options.error ? { error: options.error } : {},
  );
}

export function registerLoginRoutes(app: FastifyInstance, s: IdentityServices): void {
  app.get<UidParams>('/interaction/:uid', { schema: { params: uidSchema } }, async (req, reply) => {
    const { uid } = req.params;
    const details = await loadInteraction(s, req, reply, uid);
    if (details.prompt.name === 'login') {
      const sessionAccount = details.session?.accountId;
      if (sessionAccount && details.prompt.reasons.includes('acr_step_up')) {
        // Step-up: the password is behind the session already; only the second factor is missing.
        await savePending(s, uid, { userId: sessionAccount, amr: ['pwd'] });
        return reply.redirect(await secondFactorPath(s, uid, sessionAccount), 303);
      }
      if (await loadPending(s, uid)) return reply.redirect(`/interaction/${uid}/mfa`, 303);
      return sendPage(reply, loginPage(s, uid));
    }
    return sendPage(reply, await consentPage(s, uid, details));
  });

  app.post<UidParams & { Body: { login: string; password: string; csrf: string } }>(
    '/interaction/:uid/login',
    {
      schema: {
        params: uidSchema,
        body: {
          type: 'object',
          required: ['login', 'password', 'csrf'],
          properties: {
            login: { type: 'string', maxLength: 320 },
            password: { type: 'string', maxLength: 1024 },
            csrf: { type: 'string', maxLength: 128 },
          },
        },
      },
    },
    async (req, reply) => {
      const { uid } = req.params;
      const details = await loadInteraction(s, req, reply, uid);
      const { login, password } = req.body;
      const user = await s.users.findForLogin(login);
      const deviceKey = s.box.derive('device-cookie');
      const device = user ? deviceFor(deviceKey, req.headers.cookie, user.id) : undefined;
      const ipKey = `ip:${req.ip}`;
      // Unknown names get an account counter too: otherwise "never throttled" would reveal them.
      const userKey = user
        ? device
          ? `dev:${device}`
          : `acct:${user.id}`
        : `acct:unknown:${createHash('sha256').update(login.trim().toLowerCase()).digest('base64url')}`;
      const verdict = await s.throttle.check([ipKey, userKey]);
      if (!verdict.allowed) {
        const seconds = Math.ceil(verdict.retryAfterMs / 1000);
        s.audit.record({
          actor: { type: 'user', id: user?.id ?? 'unknown' },
          action: 'identity.login',
          outcome: 'failure',
          reason: 'throttled',
          source: { component: 'identity', ip: req.ip },
        });
        reply.header('retry-after', String(seconds));
        return sendPage(
          reply,
          loginPage(s, uid, {
            error: `Too many failed attempts. Wait ${seconds} seconds and try again.`,
            login,
          }),
          429,
        );
      }
      const usable = user?.passwordHash && user.status === 'active';
      const ok = usable ? await verifyPassword(user.passwordHash!, password) : await verifyDummy(password);
      if (!ok || !user) {
        const outcomes = await Promise.all([s.throttle.fail(ipKey), s.throttle.fail(userKey)]);
        s.audit.record({
          actor: { type: 'user', id: user?.id ?? 'unknown' },
          action: 'identity.login',
          outcome: 'failure',
          reason: 'bad_credentials',
          source: { component: 'identity', ip: req.ip },
        });
        outcomes.forEach((o, i) => {
          if (!o.locked) return;
          s.audit.record({
            actor: { type: 'system', id: 'identity' },
            action: 'identity.lockout',
            target:
              i === 0
                ? { type: 'ip', id: req.ip }
                : { type: userKey.split(':')[0]!, id: user?.id ?? 'unknown' },
            outcome: 'success',
            source: { component: 'identity', ip: req.ip },
          });
        });
        return sendPage(reply, loginPage(s, uid, { error: BAD_CREDENTIALS, login }), 401);
      }
      await s.throttle.succeed(userKey);
      if (needsRehash(user.passwordHash!)) await s.users.rehash(user.id, password);
      reply.header('set-cookie', issueDeviceCookie(deviceKey, user.id, s.tls));
      await savePending(s, uid, { userId: user.id, amr: ['pwd'] });
      const stepUp = String(details.params['acr_values'] ?? '')
        .split(' ')
        .includes(ACR_MFA);
      const next = await secondFactorPath(s, uid, user.id, stepUp);
      if (next) return reply.redirect(next, 303);
      return finishLogin(s, req, reply, uid, { userId: user.id, amr: ['pwd'] });
    },
  );

  app.post<UidParams & { Body: { csrf: string; decision?: string } }>(
    '/interaction/:uid/consent',
    {
      schema: {
        params: uidSchema,
        body: {
          type: 'object',
          required: ['csrf'],
          properties: {
            csrf: { type: 'string', maxLength: 128 },
            decision: { type: 'string', enum: ['allow', 'deny'] },
          },
        },
      },
    },
    async (req, reply) => {
      const { uid } = req.params;
      const details = await loadInteraction(s, req, reply, uid);
      const provider = await s.provider();
      if (details.prompt.name !== 'consent' || !details.session?.accountId)
        return reply.redirect(`/interaction/${uid}`, 303);
      if (req.body.decision !== 'allow') {
        const returnTo = await provider.interactionResult(req.raw, reply.raw, {
          error: 'access_denied',
          error_description: 'the user declined',
        });
        return reply.redirect(returnTo, 303);
      }
      const clientId = String(details.params['client_id']);
      const grant = details.grantId
        ? ((await provider.Grant.find(details.grantId)) ??
          new provider.Grant({ accountId: details.session.accountId, clientId }))
        : new provider.Grant({ accountId: details.session.accountId, clientId });
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      s.audit.record({
        actor: { type: 'user', id: details.session.accountId },
        action: 'identity.consent',
        target: { type: 'client', id: clientId },
        outcome: 'success',
        source: { component: 'identity', ip: req.ip },
        details: { scopes: missing.missingOIDCScope ?? [] },
      });
      const returnTo = await provider.interactionResult(
        req.raw,
        reply.raw,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
      return reply.redirect(returnTo, 303);
    },
  );

  app.post<UidParams & { Body: { csrf: string } }>(
    '/interaction/:uid/abort',
    { schema: { params: uidSchema, body: csrfOnly } },
    async (req, reply) => {
      await loadInteraction(s, req, reply, req.params.uid);
      const provider = await s.provider();
      const returnTo = await provider.interactionResult(req.raw, reply.raw, {
        error: 'access_denied',
        error_description: 'the user cancelled',
      });
      return reply.redirect(returnTo, 303);
    },
  );
}

/** Where the user goes after the password: the second factor, its enrolment, or nowhere (null). */
async function secondFactorPath(
  s: IdentityServices,
  uid: string,
  userId: string,
  stepUp = true,
): Promise<string> {
  if (await hasSecondFactor(s, userId)) return `/interaction/${uid}/mfa`;
  if (stepUp || (await s.roles.mfaRequired(userId))) return `/interaction/${uid}/mfa/enrol`;
  return '';
}

async function consentPage(
  s: IdentityServices,
  uid: string,
  details: { params: Record<string, unknown>; prompt: { details: unknown } },
) {
  const provider = await s.provider();
  const client = await provider.Client.find(String(details.params['client_id']));
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const scopes = [
    ...(missing.missingOIDCScope ?? []),
    ...Object.entries(missing.missingResourceScopes ?? {}).flatMap(([r, list]) =>
      list.map((x) => `${x} (${r})`),
    ),
  ];
  const name = client?.clientName ?? String(details.params['client_id']);
  return page(
    'Allow access?',
    `<p><strong>${escapeHtml(name)}</strong> asks to:</p>
<ul>${scopes.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/consent">
${hidden('csrf', csrfToken(s, uid))}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  );
}
