/**
 * What every sign-in page shares: loading the interaction bound to this browser (oidc-provider's signed
 * `_interaction` cookie, which also defeats login CSRF across sites), an explicit CSRF token bound to the
 * interaction, the pending-login state between password and second factor, and finishing the login.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Interaction } from 'oidc-provider';
import { identityError } from '../errors.ts';
import { type AuthMethod, acrFor } from '../provider/acr.ts';
import type { IdentityServices } from '../services.ts';
import { PAGE_HEADERS, page } from './html.ts';

export interface PendingLogin {
  userId: string;
  amr: AuthMethod[];
}

export function csrfToken(s: IdentityServices, uid: string): string {
  return createHmac('sha256', s.box.derive('csrf')).update(uid).digest('base64url');
}

/**
 * Loads the interaction of the URL, which must be the one this browser's cookie is bound to, and checks
 * that a POST came from this origin with the right token (OWASP CSRF Cheat Sheet: synchronizer token plus
 * Fetch Metadata).
 */
export async function loadInteraction(
  s: IdentityServices,
  req: FastifyRequest,
  reply: FastifyReply,
  uid: string,
): Promise<Interaction> {
  const provider = await s.provider();
  let details: Interaction;
  try {
    details = await provider.interactionDetails(req.raw, reply.raw);
  } catch {
    throw identityError(
      'identity_interaction_expired',
      'this sign-in page has expired; go back to the application and start again',
    );
  }
  if (details.uid !== uid)
    throw identityError('identity_interaction_expired', 'this sign-in page belongs to another sign-in');
  if (req.method === 'POST') {
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site')
      throw identityError('identity_csrf', 'cross-site form submission refused');
    const origin = req.headers.origin;
    if (origin && origin !== new URL(s.host.issuer).origin)
      throw identityError('identity_csrf', 'form posted from another origin');
    const given = String((req.body as Record<string, unknown> | undefined)?.['csrf'] ?? '');
    const expected = csrfToken(s, uid);
    if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
      throw identityError('identity_csrf', 'the form token is missing or wrong; reload the page');
    }
  }
  return details;
}

export async function savePending(s: IdentityServices, uid: string, pending: PendingLogin): Promise<void> {
  await s.store.execute(
    `INSERT INTO interaction_state (uid, user_id, amr, mfa_failures, expires_at) VALUES (?, ?, ?, 0, ?)
     ON CONFLICT (uid) DO UPDATE SET user_id = excluded.user_id, amr = excluded.amr, expires_at = excluded.expires_at`,
    [uid, pending.userId, JSON.stringify(pending.amr), s.clock.now() + 600_000],
  );
}

export async function loadPending(s: IdentityServices, uid: string): Promise<PendingLogin | undefined> {
  const [row] = await s.store.query<{ user_id: string; amr: string; expires_at: number }>(
    'SELECT user_id, amr, expires_at FROM interaction_state WHERE uid = ?',
    [uid],
  );
  if (!row || Number(row.expires_at) <= s.clock.now()) return undefined;
  return { userId: row.user_id, amr: JSON.parse(row.amr) as AuthMethod[] };
}

/** Whether the account already has a confirmed second factor (a confirmed TOTP or any passkey). */
export async function hasSecondFactor(s: IdentityServices, userId: string): Promise<boolean> {
  return (await s.totp.status(userId)) === 'confirmed' || (await s.passkeys.count(userId)) > 0;
}

/**
 * The one check every enrolment path (TOTP and passkey) makes before adding a factor. An account that has
 * a second factor may bind another only once this login has proved one: otherwise the password alone
 * would enrol the attacker's own authenticator and yield an MFA login. NIST SP 800-63B §6.1.2.1: binding
 * an additional authenticator requires authentication at the AAL the new one will be used at.
 */
export async function mayEnrolFactor(s: IdentityServices, pending: PendingLogin): Promise<boolean> {
  if (pending.amr.includes('mfa')) return true;
  return !(await hasSecondFactor(s, pending.userId));
}

/** Ends the login step: oidc-provider records the account, `acr` and `amr` in the session. */
export async function finishLogin(
  s: IdentityServices,
  req: FastifyRequest,
  reply: FastifyReply,
  uid: string,
  pending: PendingLogin,
): Promise<FastifyReply> {
  await s.store.execute('DELETE FROM interaction_state WHERE uid = ?', [uid]);
  const amr = [...new Set(pending.amr)];
  const provider = await s.provider();
  const returnTo = await provider.interactionResult(
    req.raw,
    reply.raw,
    { login: { accountId: pending.userId, acr: acrFor(amr), amr, remember: false } },
    { mergeWithLastSubmission: false },
  );
  s.audit.record({
    actor: { type: 'user', id: pending.userId },
    action: 'identity.login',
    outcome: 'success',
    source: { component: 'identity', ip: req.ip },
    details: { amr, acr: acrFor(amr) },
  });
  return reply.code(303).header('location', returnTo).send();
}

export function sendPage(reply: FastifyReply, html: string, status = 200): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(html);
}

export function sendProblemPage(reply: FastifyReply, status: number, message: string): FastifyReply {
  return sendPage(
    reply,
    page('Sign-in problem', '<p>Go back to the application and start again.</p>', { error: message }),
    status,
  );
}
