/**
 * The mesh CA: roots, the issuing intermediate and X.509-SVID issuance. The first root is core's local CA
 * (`<home>/tls/`), imported and sealed into the authority's store so the existing chain continues and every
 * replica (cluster mode) signs under the same root. Private keys are stored sealed ({@link KeySeal}) and
 * held unsealed in memory only as non-extractable WebCrypto keys.
 *
 * CA rotation goes through overlapping bundles (states per CA row):
 *   prepare  -> a new root + intermediate are `prepared`: published in the bundle, not yet signing;
 *   activate -> they become `active` (new SVIDs chain to them); the old pair is `retiring`, still trusted;
 *   retire   -> once every SVID of the old intermediate has expired, the old pair leaves the bundle.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { type Clock, ensureLocalCa, type Queryable, type Store } from '../../core/index.ts';
import { authorityError } from '../errors.ts';
import { assertIssuable, lockIdentity } from '../store/identity-guard.ts';
import { publicKeyFromCsr } from './csr.ts';
import type { CaKeySeal } from './key-seal.ts';
import { encodeSvid, type IssuerFacts, issuerFacts, toPem } from './svid-encoder.ts';
import {
  createIntermediate,
  createRoot,
  exportPkcs8,
  generateP256,
  importPkcs8,
  randomSerial,
  type SignerKey,
} from './x509-profiles.ts';

const DAY = 86_400_000;
const ROOT_LIFETIME_MS = 3650 * DAY;
const ISSUER_RECHECK_MS = 5000;

/** A CA that can sign: WebCrypto key for CA certificates, node KeyObject + facts for the SVID encoder. */
type Signer = SignerKey & { id: string; pem: string; facts: IssuerFacts };

/** Backdating absorbs clock skew between the authority and the workloads that verify its certificates. */
const BACKDATE_MS = 30_000;

export type CaState = 'active' | 'prepared' | 'retiring' | 'retired';
export type RotationPhase = 'prepare' | 'activate' | 'retire';

type CaRow = {
  id: string;
  kind: 'root' | 'intermediate';
  parent: string | null;
  cert_pem: string;
  sealed_key: string;
  state: CaState;
  changed_at: number;
  not_after: number;
};

export interface IssuedSvid {
  spiffeId: string;
  serial: string;
  /** PEM: the SVID then the intermediate. */
  certChain: string;
  notBefore: number;
  notAfter: number;
}

export interface CaOptions {
  store: Store;
  seal: CaKeySeal;
  clock: Clock;
  home: string;
  trustDomain: string;
  svidTtlMs: number;
  intermediateTtlMs: number;
  /** Delete `<home>/tls/ca.key` once the root is in the store, sealed (see config `sealLocalRoot`). */
  sealLocalRoot?: boolean;
  random?: (size: number) => Buffer;
}

export class CertificateAuthority {
  readonly #o: CaOptions;
  readonly #random: (size: number) => Buffer;
  #issuer: Signer | undefined;
  #issuerCheckedAt = 0;

  constructor(options: CaOptions) {
    this.#o = options;
    this.#random = options.random ?? randomBytes;
  }

  /** Imports the local root on first start and makes sure an intermediate can issue. */
  async init(): Promise<void> {
    const { store } = this.#o;
    const [root] = await store.query<CaRow>(`SELECT * FROM authority_ca WHERE kind = 'root' LIMIT 1`);
    if (!root) {
      await ensureLocalCa(this.#o.home, new Date(this.#o.clock.now()));
      const pem = readFileSync(join(this.#o.home, 'tls', 'ca.crt'), 'utf8');
      const keyFile = join(this.#o.home, 'tls', 'ca.key');
      if (!existsSync(keyFile)) {
        throw authorityError(
          'authority_key_sealed',
          `${keyFile} was sealed into authority's store and removed, and that store has no root: restore the authority database (or start with a new home)`,
        );
      }
      const keyPem = readFileSync(keyFile, 'utf8');
      const cert = new x509.X509Certificate(pem);
      await this.#insert(store, 'root', null, cert, keyPem, 'active');
    }
    // The sealed copy in the store is the one authority signs with; a plain copy on disk would let whoever
    // reads it mint SVIDs for any workload.
    if (this.#o.sealLocalRoot) rmSync(join(this.#o.home, 'tls', 'ca.key'), { force: true });
    await this.#ensureIntermediate();
  }

  /**
   * Issues an SVID for `spiffeId` to the holder of the CSR's key. The caller has authorised the ID; for a
   * renewal, `presentedSerial` is the serial of the SVID the caller authenticated with. Throws
   * `authority_svid_refused` when the identity or that SVID is revoked by the time the SVID is recorded.
   */
  async issue(
    spiffeId: string,
    csrPem: string,
    presentedSerial?: string,
    hosts: readonly string[] = [],
  ): Promise<IssuedSvid> {
    const spki = publicKeyFromCsr(csrPem);
    const issuer = await this.#currentIssuer();
    const serial = randomSerial(this.#random);
    const now = this.#o.clock.now();
    // Whole seconds: X.509 times have no fractions, so the recorded expiry equals the certificate's.
    const notBefore = Math.floor((now - BACKDATE_MS) / 1000) * 1000;
    // A leaf never outlives its issuer (RFC 5280 §6.1.3 would reject it once the issuer expires).
    const notAfter =
      Math.floor(Math.min(now + this.#o.svidTtlMs, issuer.cert.notAfter.getTime()) / 1000) * 1000;
    const der = encodeSvid(issuer.facts, {
      spki,
      spiffeId,
      serial,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      hosts,
    });
    const { store } = this.#o;
    // Checked and recorded atomically under the identity's lock, which revocation also takes: a revocation
    // either sees this serial (and revokes it) or this check sees the revocation (see identity-guard.ts).
    await store.transaction(async (tx) => {
      await lockIdentity(store.engine, tx, spiffeId);
      await assertIssuable(tx, spiffeId, presentedSerial);
      await tx.execute(
        'INSERT INTO authority_svid (serial, spiffe_id, issued_at, not_after, revoked_at) VALUES (?, ?, ?, ?, NULL)',
        [serial, spiffeId, now, notAfter],
      );
    });
    return { spiffeId, serial, certChain: `${toPem(der)}\n${issuer.pem}\n`, notBefore, notAfter };
  }

  /** The roots workloads must trust now: active, prepared and retiring ones (overlap during rotation). */
  async trustedRoots(): Promise<{ pem: string; notAfter: number }[]> {
    const rows = await this.#o.store.query<CaRow>(
      `SELECT * FROM authority_ca WHERE kind = 'root' AND state <> 'retired' ORDER BY created_at`,
    );
    return rows.map((r) => ({ pem: r.cert_pem, notAfter: Number(r.not_after) }));
  }

  /** Monotonic number of the bundle content; SPIFFE bundles carry it as `spiffe_sequence`. */
  async bundleSequence(): Promise<number> {
    const [row] = await this.#o.store.query<{ value: string }>(
      `SELECT value FROM authority_meta WHERE name = 'bundle_sequence'`,
    );
    return row ? Number(row.value) : 0;
  }

  async rotationState(): Promise<{ id: string; kind: string; state: CaState; notAfter: string }[]> {
    const rows = await this.#o.store.query<CaRow>('SELECT * FROM authority_ca ORDER BY created_at');
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      state: r.state,
      notAfter: new Date(Number(r.not_after)).toISOString(),
    }));
  }

  /** One step of a CA rotation (see the module comment); throws `authority_rotation_conflict` when out of order. */
  async rotate(phase: RotationPhase): Promise<void> {
    const { store, clock } = this.#o;
    const conflict = (why: string) => authorityError('authority_rotation_conflict', why);
    await store.transaction(async (tx) => {
      const rows = await tx.query<CaRow>(`SELECT * FROM authority_ca WHERE state <> 'retired'`);
      const inState = (s: CaState) => rows.filter((r) => r.state === s);
      if (phase === 'prepare') {
        if (inState('prepared').length > 0) throw conflict('a rotation is already prepared');
        if (inState('retiring').length > 0) throw conflict('retire the previous CA first');
        const now = clock.now();
        const rootKeys = await generateP256();
        const root = await createRoot(
          rootKeys,
          `CN=Bulwark mesh root CA ${new Date(now).toISOString().slice(0, 10)}, O=Bulwark`,
          now,
          ROOT_LIFETIME_MS,
          randomSerial(this.#random),
        );
        const rootId = await this.#insert(
          tx,
          'root',
          null,
          root,
          exportPkcs8(rootKeys.privateKey),
          'prepared',
        );
        await this.#makeIntermediate(tx, { id: rootId, cert: root, key: rootKeys.privateKey }, 'prepared');
      } else if (phase === 'activate') {
        if (inState('prepared').length === 0) throw conflict('prepare a rotation first');
        const now = clock.now();
        await tx.execute(
          `UPDATE authority_ca SET state = 'retiring', changed_at = ? WHERE state = 'active'`,
          [now],
        );
        await tx.execute(
          `UPDATE authority_ca SET state = 'active', changed_at = ? WHERE state = 'prepared'`,
          [now],
        );
      } else {
        const retiring = inState('retiring');
        if (retiring.length === 0) throw conflict('no CA is retiring');
        // SVIDs signed before activation stay valid up to their TTL: their chain must stay trusted that long.
        const since = Math.max(...retiring.map((r) => Number(r.changed_at)));
        const wait = since + this.#o.svidTtlMs - clock.now();
        if (wait > 0)
          throw conflict(`SVIDs of the retiring CA are valid for ${Math.ceil(wait / 1000)} s more`);
        await tx.execute(
          `UPDATE authority_ca SET state = 'retired', changed_at = ? WHERE state = 'retiring'`,
          [clock.now()],
        );
      }
      await this.#bumpSequence(tx);
    });
    this.#issuer = undefined;
  }

  async #currentIssuer(): Promise<Signer> {
    const cached = this.#issuer;
    // Re-read the active intermediate at most every few seconds: another replica may have rotated it.
    if (cached && this.#o.clock.now() - this.#issuerCheckedAt < ISSUER_RECHECK_MS) return cached;
    this.#issuerCheckedAt = this.#o.clock.now();
    const [row] = await this.#o.store.query<CaRow>(
      `SELECT * FROM authority_ca WHERE kind = 'intermediate' AND state = 'active' ORDER BY created_at DESC LIMIT 1`,
    );
    if (!row || Number(row.not_after) - this.#o.clock.now() < this.#o.intermediateTtlMs / 4) {
      await this.#ensureIntermediate();
      this.#issuer = undefined;
      this.#issuerCheckedAt = 0;
      return this.#currentIssuer();
    }
    if (cached?.id === row.id) return cached;
    this.#issuer = await this.#signer(row);
    return this.#issuer;
  }

  async #ensureIntermediate(): Promise<void> {
    const { store, clock } = this.#o;
    await store.transaction(async (tx) => {
      const [current] = await tx.query<CaRow>(
        `SELECT * FROM authority_ca WHERE kind = 'intermediate' AND state = 'active' ORDER BY created_at DESC LIMIT 1`,
      );
      if (current && Number(current.not_after) - clock.now() >= this.#o.intermediateTtlMs / 4) return;
      const [root] = await tx.query<CaRow>(
        `SELECT * FROM authority_ca WHERE kind = 'root' AND state = 'active' ORDER BY created_at DESC LIMIT 1`,
      );
      if (!root) throw authorityError('authority_not_found', 'no active root CA');
      if (current) {
        await tx.execute(`UPDATE authority_ca SET state = 'retired', changed_at = ? WHERE id = ?`, [
          clock.now(),
          current.id,
        ]);
      }
      await this.#makeIntermediate(tx, await this.#signer(root), 'active');
    });
  }

  async #makeIntermediate(tx: Queryable, parent: SignerKey & { id: string }, state: CaState): Promise<void> {
    const keys = await generateP256();
    const cert = await createIntermediate(
      parent,
      keys.publicKey,
      this.#o.trustDomain,
      this.#o.clock.now(),
      this.#o.intermediateTtlMs,
      randomSerial(this.#random),
    );
    await this.#insert(tx, 'intermediate', parent.id, cert, exportPkcs8(keys.privateKey), state);
  }

  async #signer(row: CaRow): Promise<Signer> {
    const pem = await this.#o.seal.unseal(row.sealed_key, row.id);
    const cert = new x509.X509Certificate(row.cert_pem);
    return {
      id: row.id,
      pem: row.cert_pem,
      cert,
      key: await importPkcs8(pem),
      facts: issuerFacts(new Uint8Array(cert.rawData), createPrivateKey(pem)),
    };
  }

  async #insert(
    tx: Queryable,
    kind: CaRow['kind'],
    parent: string | null,
    cert: x509.X509Certificate,
    keyPem: string,
    state: CaState,
  ): Promise<string> {
    const id = `${kind}-${this.#random(8).toString('hex')}`;
    const now = this.#o.clock.now();
    const sealed = await this.#o.seal.seal(keyPem, id);
    await tx.execute(
      'INSERT INTO authority_ca (id, kind, parent, cert_pem, sealed_key, state, created_at, not_after, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [id, kind, parent, cert.toString('pem'), sealed, state, now, cert.notAfter.getTime(), now],
    );
    if (kind === 'root') await this.#bumpSequence(tx);
    return id;
  }

  async #bumpSequence(tx: Queryable): Promise<void> {
    const [row] = await tx.query<{ value: string }>(
      `SELECT value FROM authority_meta WHERE name = 'bundle_sequence'`,
    );
    const next = String((row ? Number(row.value) : 0) + 1);
    if (row) await tx.execute(`UPDATE authority_meta SET value = ? WHERE name = 'bundle_sequence'`, [next]);
    else await tx.execute(`INSERT INTO authority_meta (name, value) VALUES ('bundle_sequence', ?)`, [next]);
  }
}
