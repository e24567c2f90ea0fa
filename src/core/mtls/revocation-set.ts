/**
 * The revocations a workload knows of, fed from authority's `GET /v1/revocations` feed. Entries drop out
 * once the certificate has expired (it is refused for that reason anyway), so the set stays small.
 */
import type { Clock } from '../clock.ts';
import type { RevocationCheck } from './peer-identity.ts';
import { normaliseSerial } from './x509-svid.ts';

export interface RevocationFeedEntry {
  seq: number;
  serial: string;
  spiffeId: string;
  notAfter: number;
}

export class RevocationSet implements RevocationCheck {
  readonly #clock: Clock;
  readonly #serials = new Map<string, number>();
  #sequence = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get sequence(): number {
    return this.#sequence;
  }

  get size(): number {
    return this.#serials.size;
  }

  apply(feed: { sequence: number; entries: readonly RevocationFeedEntry[] }): number {
    for (const e of feed.entries) this.#serials.set(normaliseSerial(e.serial), e.notAfter);
    this.#sequence = Math.max(this.#sequence, feed.sequence);
    const now = this.#clock.now();
    for (const [serial, notAfter] of this.#serials) if (notAfter <= now) this.#serials.delete(serial);
    return feed.entries.length;
  }

  isRevoked(serial: string): boolean {
    return this.#serials.has(normaliseSerial(serial));
  }
}
