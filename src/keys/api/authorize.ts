/**
 * Who may do what. Every request names its caller in a header (`x-bulwark-caller` by default) that the
 * mTLS layer will set from the peer certificate's SPIFFE ID. Until then the header is only as trustworthy
 * as the network path: it must only be trusted behind mTLS (or on loopback), because any client that
 * reaches the port directly can write it.
 *
 * Decisions go through the {@link Authorizer} interface. The built-in one reads allow lists (per key and
 * operation, plus the admin and subject lists from config); a Cedar-backed authorizer (principal = caller,
 * action = operation, resource = key) can replace it without touching the routes.
 */
import type { FastifyRequest } from 'fastify';
import { listedCaller } from '../../core/mtls/spiffe-id.ts';
import { keysError } from '../errors.ts';
import type { KeyAcl, KeyOperation } from '../keyring/key-types.ts';

export type AdminOperation = 'create' | 'list' | 'rotate' | 'configure' | 'trim';
export type SubjectOperation = 'encrypt' | 'decrypt' | 'erase';

export type AuthorizationRequest =
  | { caller: string; kind: 'key'; operation: KeyOperation; key: string; acl: KeyAcl }
  | { caller: string; kind: 'admin'; operation: AdminOperation; key?: string }
  | { caller: string; kind: 'subject'; operation: SubjectOperation };

export interface Authorizer {
  authorize(request: AuthorizationRequest): boolean | Promise<boolean>;
}

/** Matches a caller against allow-list entries: exact, or a prefix when the entry ends in `*`. */
function allowed(list: readonly string[] | undefined, caller: string): boolean {
  return list !== undefined && listedCaller(list, caller);
}

export class AllowListAuthorizer implements Authorizer {
  readonly #admins: readonly string[];
  readonly #subjects: Partial<Record<SubjectOperation, readonly string[]>>;

  constructor(admins: readonly string[], subjects: Partial<Record<SubjectOperation, readonly string[]>>) {
    this.#admins = admins;
    this.#subjects = subjects;
  }

  authorize(request: AuthorizationRequest): boolean {
    if (request.kind === 'admin') return allowed(this.#admins, request.caller);
    if (request.kind === 'subject') return allowed(this.#subjects[request.operation], request.caller);
    // Admins may read key metadata; everything else needs the key's own list.
    if (request.operation === 'read' && allowed(this.#admins, request.caller)) return true;
    return allowed(request.acl[request.operation], request.caller);
  }
}

/** Printable, no whitespace or control characters, bounded: a SPIFFE ID or similar identity. */
const CALLER = /^[\x21-\x7e]{1,2048}$/;

export function callerOf(req: FastifyRequest, header: string): string {
  const value = req.headers[header];
  if (typeof value !== 'string' || !CALLER.test(value)) {
    throw keysError('keys_unauthenticated', `the ${header} header must name the caller`);
  }
  return value;
}
