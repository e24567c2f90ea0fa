/**
 * A workload's identity over its lifetime: it joins once with a one-time token, then renews its SVID at
 * half-life with jitter over mTLS, follows the trust bundle (CA rotation), and follows the revocation
 * feed by long polling, so a revocation reaches it within about a second. Every TLS endpoint built on
 * `credentials` (SDK server and client, sidecar) picks up a renewal without dropping connections.
 */
import { X509Certificate } from 'node:crypto';
import { type Clock, systemClock } from '../clock.ts';
import type { AuthorityClient, SvidResponse } from './authority-client.ts';
import { RevocationSet } from './revocation-set.ts';
import { RotatingCredentials, renewalDelay } from './rotating-credentials.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import type { SvidMaterial } from './tls-options.ts';
import { createWorkloadKey } from './workload-key.ts';

const MIN_RENEWAL_GAP_MS = 1000;

export interface WorkloadIdentityOptions {
  authority: AuthorityClient;
  /** One-time token from `bulwark authority join-token SERVICE`. */
  joinToken: string;
  clock?: Clock;
  /** 0..1, for the renewal jitter (inject for tests). */
  random?: () => number;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Long-poll duration of the revocation feed. */
  revocationWaitMs?: number;
  /** How often to re-read the trust bundle (default: the bundle's refresh hint). */
  bundleRefreshMs?: number;
  /** Told about background failures (renewal retried, feed re-polled); never fatal by itself. */
  onError?: (error: unknown) => void;
}

export class WorkloadIdentity {
  readonly credentials: RotatingCredentials;
  readonly revocations: RevocationSet;
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly #o: WorkloadIdentityOptions;
  readonly #clock: Clock;
  #renewTimer: NodeJS.Timeout | undefined;
  #bundleTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #feed: Promise<void> | undefined;
  #renewals = 0;
  #nextRenewalAt = 0;

  private constructor(options: WorkloadIdentityOptions, material: SvidMaterial) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.credentials = new RotatingCredentials(material, { minVersion: options.minVersion ?? 'TLSv1.2' });
    this.revocations = new RevocationSet(this.#clock);
    this.spiffeId = material.spiffeId;
    this.trustDomain = parseSpiffeId(material.spiffeId).trustDomain;
    options.authority.useCredentials(this.credentials);
  }

  /**
   * Attests with the join token and starts the background renewal, bundle and revocation loops.
   *
   * @example
   * const identity = await WorkloadIdentity.join({ authority, joinToken: process.env.BULWARK_JOIN_TOKEN! });
   */
  static async join(options: WorkloadIdentityOptions): Promise<WorkloadIdentity> {
    const key = await createWorkloadKey();
    const svid = await options.authority.attest(options.joinToken, key.csrPem);
    const identity = new WorkloadIdentity(options, svidMaterial(svid, key.privateKeyPem));
    await identity.#pollRevocations(0);
    identity.#scheduleRenewal();
    identity.#feed = identity.#followRevocations();
    identity.#scheduleBundle((await options.authority.bundle()).spiffe_refresh_hint * 1000);
    return identity;
  }

  /** When the next scheduled renewal runs (ms since the epoch, on the injected clock). */
  get nextRenewalAt(): number {
    return this.#nextRenewalAt;
  }

  /** How many times the SVID has been renewed. */
  get renewals(): number {
    return this.#renewals;
  }

  /** Renews the SVID now (with a fresh key) and applies it. */
  async renew(): Promise<void> {
    const key = await createWorkloadKey();
    const svid = await this.#o.authority.renew(key.csrPem);
    this.credentials.update(svidMaterial(svid, key.privateKeyPem));
    this.#renewals++;
  }

  /** Re-reads the trust bundle and applies it when its roots changed. */
  async refreshBundle(): Promise<boolean> {
    const bundle = await this.#o.authority.bundle();
    const roots = bundle.keys
      .filter((k) => k.use === 'x509-svid' && k.x5c.length === 1)
      .map((k) => new X509Certificate(Buffer.from(k.x5c[0]!, 'base64')).toString());
    const current = this.credentials.material.bundle;
    if (roots.length === 0 || sameSet(roots, current)) return false;
    this.credentials.update({ ...this.credentials.material, bundle: roots });
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#bundleTimer);
    await this.#o.authority.close();
    await this.#feed;
  }

  #scheduleRenewal(): void {
    if (this.#closed) return;
    const m = this.credentials.material;
    // At least a second between renewals, so a skewed clock cannot turn renewal into a busy loop.
    const delay = Math.max(
      MIN_RENEWAL_GAP_MS,
      renewalDelay(m.notBefore, m.notAfter, this.#clock.now(), (this.#o.random ?? Math.random)()),
    );
    this.#nextRenewalAt = this.#clock.now() + delay;
    this.#renewTimer = setTimeout(() => {
      this.renew().then(
        () => this.#scheduleRenewal(),
        (err) => {
          this.#o.onError?.(err);
          // Retry well before expiry: a tenth of what is left, at least a second.
          const left = this.credentials.material.notAfter - this.#clock.now();
          if (!this.#closed)
            this.#renewTimer = setTimeout(() => this.#scheduleRenewal(), Math.max(1000, left / 10)).unref();
        },
      );
    }, delay).unref();
  }

  #scheduleBundle(ms: number): void {
    if (this.#closed) return;
    this.#bundleTimer = setTimeout(() => {
      this.refreshBundle()
        .catch((err) => this.#o.onError?.(err))
        .finally(() => this.#scheduleBundle(this.#o.bundleRefreshMs ?? ms));
    }, this.#o.bundleRefreshMs ?? ms).unref();
  }

  async #pollRevocations(waitMs: number): Promise<void> {
    this.revocations.apply(await this.#o.authority.revocations(this.revocations.sequence, waitMs));
  }

  async #followRevocations(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#pollRevocations(this.#o.revocationWaitMs ?? 20_000);
      } catch (err) {
        if (this.#closed) return;
        this.#o.onError?.(err);
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    }
  }
}

/** The material of an SVID the authority answered with, and the private key of its CSR. */
export function svidMaterial(svid: SvidResponse, key: string): SvidMaterial {
  return {
    spiffeId: svid.spiffeId,
    certChain: svid.certChain,
    key,
    bundle: svid.bundle,
    notBefore: Date.parse(svid.notBefore),
    notAfter: Date.parse(svid.notAfter),
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const norm = (s: string) => s.replace(/\s+/g, '');
  const set = new Set(b.map(norm));
  return a.length === b.length && a.every((x) => set.has(norm(x)));
}
