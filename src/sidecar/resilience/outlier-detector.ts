/**
 * Outlier ejection (Envoy's consecutive-errors detector): an endpoint with `consecutiveErrors` failures in
 * a row is taken out of the rotation for `baseEjectionMs` times the number of times it was ejected
 * (capped), but never more than `maxEjectedPercent` of the endpoints, so a fleet-wide problem does not
 * eject everything.
 */
import type { Clock } from '../../core/index.ts';

export interface OutlierOptions {
  consecutiveErrors: number;
  baseEjectionMs: number;
  maxEjectionMs?: number;
  maxEjectedPercent: number;
}

interface EndpointHealth {
  errors: number;
  ejections: number;
  ejectedUntil: number;
}

export class OutlierDetector {
  readonly #o: OutlierOptions;
  readonly #clock: Clock;
  readonly #endpoints = new Map<string, EndpointHealth>();

  constructor(options: OutlierOptions, clock: Clock) {
    this.#o = options;
    this.#clock = clock;
  }

  /** The endpoints of `all` that are not ejected now. */
  available(all: readonly string[]): string[] {
    const now = this.#clock.now();
    return all.filter((key) => (this.#endpoints.get(key)?.ejectedUntil ?? 0) <= now);
  }

  success(key: string): void {
    const health = this.#endpoints.get(key);
    if (health) health.errors = 0;
  }

  /** Records a failure; returns true when it ejected the endpoint. */
  failure(key: string, all: readonly string[]): boolean {
    const health = this.#endpoints.get(key) ?? { errors: 0, ejections: 0, ejectedUntil: 0 };
    this.#endpoints.set(key, health);
    health.errors++;
    if (health.errors < this.#o.consecutiveErrors) return false;
    const now = this.#clock.now();
    const ejected = all.filter((k) => (this.#endpoints.get(k)?.ejectedUntil ?? 0) > now).length;
    if (((ejected + 1) / Math.max(1, all.length)) * 100 > this.#o.maxEjectedPercent) return false;
    health.ejections++;
    health.errors = 0;
    const duration = Math.min(this.#o.baseEjectionMs * health.ejections, this.#o.maxEjectionMs ?? 300_000);
    health.ejectedUntil = now + duration;
    return true;
  }
}
