/** What the routes share: the keys machinery, the authorizer, and the audit helper. */
import type { FastifyRequest } from 'fastify';
import type { AuditOutcome, AuditSink, BulwarkError } from '../../core/index.ts';
import { keysError } from '../errors.ts';
import type { Keyring } from '../keyring/keyring.ts';
import type { SubjectKeys } from '../shred/subject-keys.ts';
import type { TokenVault } from '../tokenize/token-vault.ts';
import type { Transit } from '../transit/operations.ts';
import type { AuthorizationRequest, Authorizer } from './authorize.ts';

export interface KeysServices {
  keyring: Keyring;
  transit: Transit;
  vault: TokenVault;
  subjects: SubjectKeys;
  authorizer: Authorizer;
  audit: AuditSink;
  /**
   * Who is calling: the SPIFFE ID of the mTLS peer when keys serves mTLS (under `bulwark up`), else the
   * caller header (development and tests, loopback only).
   */
  identifyCaller(req: FastifyRequest): string;
  maxBatch: number;
}

export interface AuditNote {
  action: string;
  caller: string;
  target?: { type: string; id: string };
  outcome: AuditOutcome;
  reason?: string;
  /** Counts and versions only: never plaintext, ciphertext, tokens or key material. */
  details?: Record<string, unknown>;
}

export function audit(services: KeysServices, req: FastifyRequest, note: AuditNote): void {
  services.audit.record({
    actor: { type: 'service', id: note.caller },
    action: `keys.${note.action}`,
    ...(note.target ? { target: note.target } : {}),
    outcome: note.outcome,
    ...(note.reason ? { reason: note.reason } : {}),
    source: { component: 'keys', ip: req.ip },
    requestId: req.id,
    category: 'security',
    ...(note.details ? { details: note.details } : {}),
  });
}

/**
 * Identifies the caller and asks the authorizer; a refusal is audited and answered `keys_forbidden`.
 * Resolves to the caller identity.
 */
export async function authorize(
  services: KeysServices,
  req: FastifyRequest,
  build: (caller: string) => AuthorizationRequest | Promise<AuthorizationRequest>,
  target?: { type: string; id: string },
): Promise<string> {
  const caller = services.identifyCaller(req);
  const request = await build(caller);
  if (!(await services.authorizer.authorize(request))) {
    audit(services, req, {
      action: request.kind === 'subject' ? `subject.${request.operation}` : request.operation,
      caller,
      ...(target ? { target } : {}),
      outcome: 'failure',
      reason: 'forbidden',
    });
    throw keysError(
      'keys_forbidden',
      `${caller} may not ${request.operation}${target ? ` with ${target.type} ${target.id}` : ''}`,
    );
  }
  return caller;
}

/** Problem-like body of one failed batch item. */
export function itemError(error: BulwarkError): { error: { code: string; status: number; detail: string } } {
  return {
    error: { code: error.code, status: error.status, detail: error.expose ? error.message : error.title },
  };
}
