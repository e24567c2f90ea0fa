/**
 * Holds a workload's current SVID material and hands it to every TLS endpoint that uses it. `update()`
 * swaps the material atomically: attached servers get `setSecureContext` (new handshakes use the new
 * certificate; established connections are not dropped), clients build new connections from the new
 * context. {@link renewalDelay} places the next renewal at half-life with jitter (as SPIRE does), so a
 * fleet issued at one moment does not renew at one moment.
 */
import { createSecureContext, type SecureContext, type Server } from 'node:tls';
import { type MtlsOptions, type SvidMaterial, svidContextOptions } from './tls-options.ts';

export type CredentialsListener = (material: SvidMaterial) => void;

export class RotatingCredentials {
  readonly #options: MtlsOptions;
  readonly #servers = new Set<Server>();
  readonly #listeners = new Set<CredentialsListener>();
  #material: SvidMaterial;
  #context: SecureContext;
  #generation = 0;

  constructor(material: SvidMaterial, options: MtlsOptions = {}) {
    this.#options = options;
    this.#material = material;
    this.#context = createSecureContext(svidContextOptions(material, options));
  }

  get material(): SvidMaterial {
    return this.#material;
  }

  /** A client-side secure context built from the current material. */
  get secureContext(): SecureContext {
    return this.#context;
  }

  /** Increases on every update; lets caches built from the material know they are stale. */
  get generation(): number {
    return this.#generation;
  }

  get minVersion(): 'TLSv1.2' | 'TLSv1.3' {
    return this.#options.minVersion ?? 'TLSv1.2';
  }

  /**
   * Replaces the material (a renewed SVID, or a new trust bundle during a CA rotation). Throws, and keeps
   * the old material, if the new key and certificate do not form a usable context.
   */
  update(material: SvidMaterial): void {
    const options = svidContextOptions(material, this.#options);
    const context = createSecureContext(options);
    for (const server of this.#servers) server.setSecureContext(options);
    this.#material = material;
    this.#context = context;
    this.#generation++;
    for (const listener of this.#listeners) listener(material);
  }

  /** Keeps a server's certificate and bundle in step with this holder; returns a detach function. */
  attach(server: Server): () => void {
    this.#servers.add(server);
    return () => this.#servers.delete(server);
  }

  onUpdate(listener: CredentialsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * Milliseconds from `now` until an SVID valid over [notBefore, notAfter] should be renewed: half its
 * lifetime, minus up to `jitter` (0..1) of a tenth of the lifetime, never negative.
 *
 * @example
 * setTimeout(renew, renewalDelay(material.notBefore, material.notAfter, clock.now(), Math.random()));
 */
export function renewalDelay(notBefore: number, notAfter: number, now: number, jitter: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const halfLife = notBefore + lifetime / 2;
  const spread = (lifetime / 10) * Math.min(1, Math.max(0, jitter));
  return Math.max(0, Math.round(halfLife - spread - now));
}
