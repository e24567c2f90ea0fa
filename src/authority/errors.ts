/** The `authority` error catalog. Every code has a row in `docs/authority.md`. */
import { errorFactory } from '../core/index.ts';

export const AUTHORITY_ERRORS = {
  authority_unauthorized: { status: 401, title: 'The admin credential is missing or wrong' },
  authority_join_token_invalid: {
    status: 401,
    title: 'The join token is unknown, expired or already used',
  },
  authority_csr_invalid: {
    status: 400,
    title: 'The certificate signing request is malformed, unsigned or uses an unsupported key',
  },
  authority_svid_refused: { status: 403, title: 'The caller may not obtain or renew this SVID' },
  authority_not_found: { status: 404, title: 'No such workload, instance or CA' },
  authority_rotation_conflict: {
    status: 409,
    title: 'The CA rotation step is not allowed in the current rotation state',
  },
  authority_key_sealed: {
    status: 500,
    title: 'A CA private key cannot be unsealed (wrong passphrase or key file, or tampered data)',
  },
} as const;

export type AuthorityErrorCode = keyof typeof AUTHORITY_ERRORS;

export const authorityError = errorFactory(AUTHORITY_ERRORS, 'authority');
