/**
 * Who is calling the authority. Two kinds of caller exist: an operator holding the admin token (read from
 * `<home>/authority/admin.token`, 0600, by the CLI on the same machine) or an SPIFFE ID listed in
 * `adminSpiffeIds`; and a workload presenting an X.509-SVID this authority issued and has not revoked.
 * The attestation endpoint is the only one that takes neither (it takes a join token).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { type PeerIdentity, verifiedPeer } from '../../core/mtls/index.ts';
import { authorityError } from '../errors.ts';
import type { Revocations } from '../store/revocations.ts';

export type Caller = { kind: 'admin'; id: string } | { kind: 'workload'; peer: PeerIdentity };

export function ensureAdminToken(path: string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `bat_${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(path, 0o600);
  return readFileSync(path, 'utf8').trim();
}

export class CallerResolver {
  readonly #adminDigest: Buffer;
  readonly #trustDomains: ReadonlySet<string>;
  readonly #adminIds: ReadonlySet<string>;
  readonly #revocations: Revocations;

  constructor(options: {
    adminToken: string;
    trustDomain: string;
    adminSpiffeIds: readonly string[];
    revocations: Revocations;
  }) {
    this.#adminDigest = digest(options.adminToken);
    this.#trustDomains = new Set([options.trustDomain]);
    this.#adminIds = new Set(options.adminSpiffeIds);
    this.#revocations = options.revocations;
  }

  /** The workload behind the request's client certificate; throws a `mesh_peer_*` error when there is none. */
  async workload(req: FastifyRequest): Promise<PeerIdentity> {
    const socket = req.raw.socket as TLSSocket;
    if (typeof socket.getPeerCertificate !== 'function') {
      throw authorityError('authority_svid_refused', 'this listener does not use TLS');
    }
    const peer = verifiedPeer(socket, { trustDomains: this.#trustDomains });
    // An SVID that chains to our roots but that we have no live record of (revoked, or from a wiped
    // database) is refused: the authority is the source of truth for revocation.
    if (await this.#revocations.isRevoked(peer.serial)) {
      throw authorityError('authority_svid_refused', `the SVID of ${peer.spiffeId.uri} is revoked`);
    }
    return peer;
  }

  /** An operator (admin token or admin SPIFFE ID); throws `authority_unauthorized`. */
  async admin(req: FastifyRequest): Promise<Caller> {
    const header = req.headers.authorization;
    if (typeof header === 'string' && header.startsWith('Bearer ')) {
      // Constant-time comparison of digests: no timing oracle on the token's prefix.
      if (timingSafeEqual(digest(header.slice(7).trim()), this.#adminDigest))
        return { kind: 'admin', id: 'admin-token' };
      throw authorityError('authority_unauthorized', 'the admin token is wrong');
    }
    const peer = await this.workload(req).catch(() => undefined);
    if (peer && this.#adminIds.has(peer.spiffeId.uri)) return { kind: 'admin', id: peer.spiffeId.uri };
    throw authorityError('authority_unauthorized', 'an admin token or an admin SVID is required');
  }

  /** Admin or any workload of the trust domain. */
  async anyone(req: FastifyRequest): Promise<Caller> {
    if (req.headers.authorization) return this.admin(req);
    return { kind: 'workload', peer: await this.workload(req) };
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
