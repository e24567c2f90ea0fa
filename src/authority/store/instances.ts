/**
 * Service discovery: instances register under their verified SPIFFE ID and keep themselves alive with
 * heartbeats; an instance silent for longer than the TTL is unhealthy and no longer resolved. A workload
 * can only register, refresh or remove instances of its own identity.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, Store } from '../../core/index.ts';
import type { ResolvedInstance } from '../../core/mtls/index.ts';
import { authorityError } from '../errors.ts';

/** An instance as stored: what a resolve answers (core's `ResolvedInstance`) and its last heartbeat. */
export interface Instance extends ResolvedInstance {
  heartbeatAt: string;
}

type InstanceRow = {
  id: string;
  service: string;
  spiffe_id: string;
  host: string;
  port: number;
  heartbeat_at: number;
};

export class Instances {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(store: Store, clock: Clock, ttlMs: number) {
    this.#store = store;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  async register(service: string, spiffeId: string, host: string, port: number): Promise<Instance> {
    const now = this.#clock.now();
    const [existing] = await this.#store.query<InstanceRow>(
      'SELECT * FROM authority_instance WHERE spiffe_id = ? AND host = ? AND port = ?',
      [spiffeId, host, port],
    );
    const id = existing?.id ?? randomUUID();
    if (existing) {
      await this.#store.execute('UPDATE authority_instance SET heartbeat_at = ? WHERE id = ?', [now, id]);
    } else {
      await this.#store.execute(
        'INSERT INTO authority_instance (id, service, spiffe_id, host, port, registered_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [id, service, spiffeId, host, port, now, now],
      );
    }
    return this.#view({ id, service, spiffe_id: spiffeId, host, port, heartbeat_at: now });
  }

  /** Refreshes an instance of `spiffeId`; throws `authority_not_found` for another workload's instance. */
  async heartbeat(id: string, spiffeId: string): Promise<void> {
    const changed = await this.#store.execute(
      'UPDATE authority_instance SET heartbeat_at = ? WHERE id = ? AND spiffe_id = ?',
      [this.#clock.now(), id, spiffeId],
    );
    if (changed !== 1) throw authorityError('authority_not_found', 'no such instance of this workload');
  }

  async remove(id: string, spiffeId: string): Promise<void> {
    await this.#store.execute('DELETE FROM authority_instance WHERE id = ? AND spiffe_id = ?', [
      id,
      spiffeId,
    ]);
  }

  /** Healthy instances of a service (heartbeat within the TTL). */
  async resolve(service: string): Promise<Instance[]> {
    const rows = await this.#store.query<InstanceRow>(
      'SELECT * FROM authority_instance WHERE service = ? AND heartbeat_at > ? ORDER BY id',
      [service, this.#clock.now() - this.#ttlMs],
    );
    return rows.map((r) => this.#view(r));
  }

  #view(r: InstanceRow): Instance {
    const heartbeat = Number(r.heartbeat_at);
    return {
      id: r.id,
      service: r.service,
      spiffeId: r.spiffe_id,
      host: r.host,
      port: Number(r.port),
      healthy: heartbeat > this.#clock.now() - this.#ttlMs,
      heartbeatAt: new Date(heartbeat).toISOString(),
    };
  }
}
