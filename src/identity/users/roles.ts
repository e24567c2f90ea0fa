/**
 * Role-based access control: roles carry permissions (`identity:users:write`, `orders:read`...; a trailing
 * `*` matches a prefix) and whether their holders must use MFA. Users and service-account clients are
 * assigned roles; the roles go into their access tokens (`roles` claim). `admin` is built in, holds
 * `identity:*` and always requires MFA.
 */
import type { Store } from '../../core/index.ts';
import { identityError } from '../errors.ts';

export type SubjectType = 'user' | 'client';

export interface Role {
  name: string;
  description: string;
  permissions: string[];
  mfaRequired: boolean;
}

export const ADMIN_ROLE = 'admin';

/** The admin API's permissions. */
export const PERMISSIONS = {
  usersRead: 'identity:users:read',
  usersWrite: 'identity:users:write',
  rolesWrite: 'identity:roles:write',
  clientsRead: 'identity:clients:read',
  clientsWrite: 'identity:clients:write',
  sessionsWrite: 'identity:sessions:write',
  keysRead: 'identity:keys:read',
  keysRotate: 'identity:keys:rotate',
  revocationsRead: 'identity:revocations:read',
} as const;

type RoleRow = {
  name: string;
  description: string;
  permissions: string;
  mfa_required: number | boolean;
};

const toRole = (r: RoleRow): Role => ({
  name: r.name,
  description: r.description,
  permissions: JSON.parse(r.permissions) as string[],
  mfaRequired: Boolean(Number(r.mfa_required)),
});

export function permits(granted: readonly string[], needed: string): boolean {
  return granted.some((p) => p === needed || (p.endsWith('*') && needed.startsWith(p.slice(0, -1))));
}

export class RoleStore {
  readonly #store: Store;
  constructor(store: Store) {
    this.#store = store;
  }

  /** Creates the built-in roles when missing (first start). */
  async seed(): Promise<void> {
    if (!(await this.get(ADMIN_ROLE))) {
      await this.upsert({
        name: ADMIN_ROLE,
        description: 'Administers identity',
        permissions: ['identity:*'],
        mfaRequired: true,
      });
    }
  }

  async upsert(role: Role): Promise<Role> {
    // Admins always need MFA, whatever the request says.
    const mfa = role.name === ADMIN_ROLE ? true : role.mfaRequired;
    await this.#store.execute(
      `INSERT INTO roles (name, description, permissions, mfa_required) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET description = excluded.description, permissions = excluded.permissions, mfa_required = excluded.mfa_required`,
      [role.name, role.description, JSON.stringify(role.permissions), mfa ? 1 : 0],
    );
    return { ...role, mfaRequired: mfa };
  }

  async get(name: string): Promise<Role | undefined> {
    const [row] = await this.#store.query<RoleRow>('SELECT * FROM roles WHERE name = ?', [name]);
    return row ? toRole(row) : undefined;
  }

  async list(): Promise<Role[]> {
    return (await this.#store.query<RoleRow>('SELECT * FROM roles ORDER BY name')).map(toRole);
  }

  async delete(name: string): Promise<void> {
    if (name === ADMIN_ROLE)
      throw identityError('identity_role_not_found', 'the admin role is built in and cannot be deleted');
    const n = await this.#store.execute('DELETE FROM roles WHERE name = ?', [name]);
    if (n === 0) throw identityError('identity_role_not_found', `no role ${name}`);
  }

  async assign(type: SubjectType, id: string, roles: readonly string[]): Promise<void> {
    for (const role of roles) {
      if (!(await this.get(role))) throw identityError('identity_role_not_found', `no role ${role}`);
    }
    await this.#store.transaction(async (tx) => {
      await tx.execute('DELETE FROM role_assignments WHERE subject_type = ? AND subject_id = ?', [type, id]);
      for (const role of roles) {
        await tx.execute('INSERT INTO role_assignments (subject_type, subject_id, role) VALUES (?, ?, ?)', [
          type,
          id,
          role,
        ]);
      }
    });
  }

  async rolesOf(type: SubjectType, id: string): Promise<Role[]> {
    const rows = await this.#store.query<RoleRow>(
      'SELECT r.* FROM roles r JOIN role_assignments a ON a.role = r.name WHERE a.subject_type = ? AND a.subject_id = ? ORDER BY r.name',
      [type, id],
    );
    return rows.map(toRole);
  }

  async permissionsOf(type: SubjectType, id: string): Promise<string[]> {
    return [...new Set((await this.rolesOf(type, id)).flatMap((r) => r.permissions))];
  }

  /** Whether any service-account client holds the role. */
  async heldByClient(role: string): Promise<boolean> {
    const rows = await this.#store.query(
      "SELECT subject_id FROM role_assignments WHERE role = ? AND subject_type = 'client' LIMIT 1",
      [role],
    );
    return rows.length > 0;
  }

  async mfaRequired(userId: string): Promise<boolean> {
    return (await this.rolesOf('user', userId)).some((r) => r.mfaRequired || r.name === ADMIN_ROLE);
  }
}
