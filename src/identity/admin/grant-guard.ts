/**
 * No privilege escalation through the admin API: a caller hands out only what it holds. Granting a role
 * (to a user or a service account), adding permissions to a role, lifting a role's MFA requirement, or
 * taking over or locking out an account (invitation link, MFA reset, new client secret, disabling,
 * deleting, unlocking) needs every permission involved. `admin`, and any
 * privileged role given to a service account (whose client-credentials token never passes MFA), needs
 * `identity:*`, which in turn may hand out anything (OWASP Authorization Cheat Sheet: least privilege).
 */
import type { FastifyRequest } from 'fastify';
import { identityError } from '../errors.ts';
import type { IdentityServices } from '../services.ts';
import { ADMIN_ROLE, permits, type Role } from '../users/roles.ts';
import { actorOf } from './admin-auth.ts';

export const ALL_IDENTITY = 'identity:*';

function refuse(detail: string): Error {
  return identityError('identity_insufficient_permission', detail);
}

async function callerPermissions(s: IdentityServices, req: FastifyRequest): Promise<string[]> {
  const actor = actorOf(req);
  return s.roles.permissionsOf(actor.type, actor.id);
}

/**
 * What the caller cannot hand out. `identity:*` is the top of identity administration (the built-in
 * `admin`): it defines application roles too, so it covers every permission; anyone else needs each one.
 */
function lacking(granted: readonly string[], wanted: readonly string[]): string[] {
  if (permits(granted, ALL_IDENTITY)) return [];
  return wanted.filter((p) => !permits(granted, p));
}

/** Whether a permission is (or, as a wildcard, covers) one of the identity admin API's. */
function touchesIdentity(permission: string): boolean {
  if (permission.startsWith('identity:')) return true;
  return permission.endsWith('*') && 'identity:'.startsWith(permission.slice(0, -1));
}

/** Roles that administer identity or are bound to MFA: not for service accounts unless from a full admin. */
export function isPrivileged(role: Pick<Role, 'name' | 'permissions' | 'mfaRequired'>): boolean {
  return role.name === ADMIN_ROLE || role.mfaRequired || role.permissions.some(touchesIdentity);
}

/**
 * Checks the roles a request would newly give to a subject (those in `roles` it does not hold yet).
 * Throws `identity_insufficient_permission` naming what the caller lacks.
 */
export async function assertMayGrantRoles(
  s: IdentityServices,
  req: FastifyRequest,
  roles: readonly string[],
  subject: { type: 'user' | 'client'; current?: readonly string[] },
): Promise<void> {
  const added = [...new Set(roles)].filter((r) => !(subject.current ?? []).includes(r));
  if (!added.length) return;
  const granted = await callerPermissions(s, req);
  const full = permits(granted, ALL_IDENTITY);
  for (const name of added) {
    const role = await s.roles.get(name);
    if (!role) throw identityError('identity_role_not_found', `no role ${name}`);
    if (name === ADMIN_ROLE && !full) throw refuse(`assigning ${ADMIN_ROLE} requires ${ALL_IDENTITY}`);
    if (subject.type === 'client' && isPrivileged(role) && !full)
      throw refuse(`giving the privileged role ${name} to a client requires ${ALL_IDENTITY}`);
    const missing = lacking(granted, role.permissions);
    if (missing.length)
      throw refuse(`granting ${name} needs permissions the caller lacks: ${missing.join(' ')}`);
  }
}

/** Checks a role change: added permissions must be held; `admin` and MFA relief need more. */
export async function assertMayWriteRole(
  s: IdentityServices,
  req: FastifyRequest,
  next: { name: string; permissions: readonly string[]; mfaRequired: boolean },
): Promise<void> {
  const granted = await callerPermissions(s, req);
  const full = permits(granted, ALL_IDENTITY);
  if (next.name === ADMIN_ROLE && !full) throw refuse(`changing ${ADMIN_ROLE} requires ${ALL_IDENTITY}`);
  const existing = await s.roles.get(next.name);
  const added = next.permissions.filter((p) => !existing?.permissions.includes(p));
  const missing = lacking(granted, added);
  if (missing.length)
    throw refuse(`adding permissions the caller lacks to ${next.name}: ${missing.join(' ')}`);
  if (existing?.mfaRequired && !next.mfaRequired && lacking(granted, existing.permissions).length)
    throw refuse(`lifting the MFA requirement of ${next.name} needs every permission it carries`);
  // Taking permissions away locks out whoever holds the role: as much as taking over its holders.
  if (existing?.permissions.some((p) => !next.permissions.includes(p)))
    await assertMayRemoveRole(s, req, existing, granted, 'removing permissions from');
  // A service account holding the role would get the new permissions without ever passing MFA.
  if (added.length && !full && isPrivileged({ ...next, permissions: [...next.permissions] })) {
    if (await s.roles.heldByClient(next.name))
      throw refuse(`${next.name} is held by a client: making it privileged requires ${ALL_IDENTITY}`);
  }
}

/**
 * Checks deleting a role, or taking permissions from it: the caller must hold every permission the role
 * carries, and `identity:*` for a privileged role or one a service account holds (a gateway's
 * revocation reader, say), whose loss would silently cut that service off.
 */
export async function assertMayRemoveRole(
  s: IdentityServices,
  req: FastifyRequest,
  role: Role,
  granted?: readonly string[],
  what = 'deleting',
): Promise<void> {
  const held = granted ?? (await callerPermissions(s, req));
  if (permits(held, ALL_IDENTITY)) return;
  if (role.name === ADMIN_ROLE || isPrivileged(role) || (await s.roles.heldByClient(role.name)))
    throw refuse(`${what} ${role.name} requires ${ALL_IDENTITY}`);
  const missing = lacking(held, role.permissions);
  if (missing.length)
    throw refuse(`${what} ${role.name} needs permissions the caller lacks: ${missing.join(' ')}`);
}

/**
 * Checks an operation that can hand an account to someone else or take it from its holder: for a user a
 * password-setting invitation, an MFA reset, disabling, enabling, deleting, unlocking or removing roles;
 * for a service account a new secret or deleting it. The caller must hold every permission the account
 * has; an account holding `admin`, or a service account holding any privileged role, needs `identity:*`.
 */
export async function assertMayTakeOver(
  s: IdentityServices,
  req: FastifyRequest,
  account: { type: 'user' | 'client'; id: string },
) {
  const granted = await callerPermissions(s, req);
  if (permits(granted, ALL_IDENTITY)) return;
  const roles = await s.roles.rolesOf(account.type, account.id);
  const top = roles.find((r) => r.name === ADMIN_ROLE || (account.type === 'client' && isPrivileged(r)));
  if (top) throw refuse(`this ${account.type} holds ${top.name}: the operation requires ${ALL_IDENTITY}`);
  const missing = lacking(
    granted,
    roles.flatMap((r) => r.permissions),
  );
  if (missing.length)
    throw refuse(`the ${account.type} holds permissions the caller lacks: ${missing.join(' ')}`);
}
