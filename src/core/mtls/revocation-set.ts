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
  /** The revoked workload (authority's feed names it; the set itself keys on the serial only). */
  spiffeId?: string;
  notAfter: number;
}

export interface RevocationFeed {
  sequence: number;
  entries: readonly RevocationFeedEntry[];
}

export class RevocationSet implements RevocationCheck {
  readonly #clock: Clock;
  readonly #serials = new Map<string, number>();
  readonly #listeners = new Set<(feed: RevocationFeed) => void>();
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

  apply(feed: RevocationFeed): number {
    for (const e of feed.entries) this.#serials.set(normaliseSerial(e.serial), e.notAfter);
    this.#sequence = Math.max(this.#sequence, feed.sequence);
    const now = this.#clock.now();
    for (const [serial, notAfter] of this.#serials) if (notAfter <= now) this.#serials.delete(serial);
    if (feed.entries.length > 0) for (const listener of this.#listeners) listener(feed);
    return feed.entries.length;
  }

  /** Every revocation still in force, as one feed (for a process that starts later, e.g. a gateway worker). */
  snapshot(): RevocationFeed {
    const entries = [...this.#serials].map(([serial, notAfter]) => ({
      seq: this.#sequence,
      serial,
      notAfter,
    }));
    return { sequence: this.#sequence, entries };
  }

  /** Called with each feed that brought revocations; returns a function that stops the calls. */
  onApply(listener: (feed: RevocationFeed) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  isRevoked(serial: string): boolean {
    return this.#serials.has(normaliseSerial(serial));
  }
}
