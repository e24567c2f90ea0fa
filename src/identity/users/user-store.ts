/**
 * Users: unique username and e-mail (compared case-insensitively, stored lower-case), an Argon2id hash,
 * and a status (`active`, `invited` until the invitation is accepted, `disabled`).
 */
import { randomUUID } from 'node:crypto';
import type { Clock, Store } from '../../core/index.ts';
import { StorageError } from '../../core/index.ts';
import { identityError } from '../errors.ts';
import { hashPassword } from './password-hash.ts';
import { assertPasswordAcceptable } from './password-policy.ts';

export type UserStatus = 'active' | 'invited' | 'disabled';

export interface User {
  id: string;
  username: string;
  email: string | null;
  status: UserStatus;
  createdAt: string;
}

type UserRow = {
  id: string;
  username: string;
  email: string | null;
  password_hash: string | null;
  status: UserStatus;
  created_at: number;
};

const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  email: r.email,
  status: r.status,
  createdAt: new Date(Number(r.created_at)).toISOString(),
});

export class UserStore {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Creates a user; without a password the user is `invited` and sets one through an invitation. */
  async create(input: {
    username: string;
    email?: string | null;
    password?: string;
    mfa?: boolean;
  }): Promise<User> {
    const username = input.username.trim().toLowerCase();
    const email = input.email ? input.email.trim().toLowerCase() : null;
    let hash: string | null = null;
    if (input.password !== undefined) {
      assertPasswordAcceptable(input.password, { username, email, mfa: input.mfa ?? false });
      hash = await hashPassword(input.password);
    }
    const now = this.#clock.now();
    const id = randomUUID();
    try {
      await this.#store.execute(
        'INSERT INTO users (id, username, email, password_hash, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [id, username, email, hash, hash ? 'active' : 'invited', now, now],
      );
    } catch (err) {
      if (err instanceof StorageError && err.code === 'storage_constraint') {
        throw identityError('identity_user_exists', 'a user with that username or e-mail already exists');
      }
      throw err;
    }
    return (await this.get(id))!;
  }

  async get(id: string): Promise<User | undefined> {
    const [row] = await this.#store.query<UserRow>('SELECT * FROM users WHERE id = ?', [id]);
    return row ? toUser(row) : undefined;
  }

  async require(id: string): Promise<User> {
    const user = await this.get(id);
    if (!user) throw identityError('identity_user_not_found', `no user ${id}`);
    return user;
  }

  /** Looks a user up by username or e-mail, with the password hash for verification. */
  async findForLogin(login: string): Promise<(User & { passwordHash: string | null }) | undefined> {
    const key = login.trim().toLowerCase();
    const [row] = await this.#store.query<UserRow>('SELECT * FROM users WHERE username = ? OR email = ?', [
      key,
      key,
    ]);
    return row ? { ...toUser(row), passwordHash: row.password_hash } : undefined;
  }

  async list(): Promise<User[]> {
    return (await this.#store.query<UserRow>('SELECT * FROM users ORDER BY username')).map(toUser);
  }

  async setPassword(id: string, password: string, mfa: boolean): Promise<void> {
    const user = await this.require(id);
    assertPasswordAcceptable(password, { username: user.username, email: user.email, mfa });
    const hash = await hashPassword(password);
    await this.#store.execute(
      "UPDATE users SET password_hash = ?, status = CASE WHEN status = 'invited' THEN 'active' ELSE status END, updated_at = ? WHERE id = ?",
      [hash, this.#clock.now(), id],
    );
  }

  /** Re-hashes a verified password with the current Argon2 parameters (after a parameter upgrade). */
  async rehash(id: string, password: string): Promise<void> {
    await this.#store.execute('UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?', [
      await hashPassword(password),
      this.#clock.now(),
      id,
    ]);
  }

  async setStatus(id: string, status: UserStatus): Promise<void> {
    await this.require(id);
    await this.#store.execute('UPDATE users SET status = ?, updated_at = ? WHERE id = ?', [
      status,
      this.#clock.now(),
      id,
    ]);
  }

  async delete(id: string): Promise<void> {
    await this.require(id);
    await this.#store.execute('DELETE FROM role_assignments WHERE subject_type = ? AND subject_id = ?', [
      'user',
      id,
    ]);
    await this.#store.execute('DELETE FROM users WHERE id = ?', [id]);
  }
}
