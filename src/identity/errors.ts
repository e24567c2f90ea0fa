/** The identity component's error codes; each has a row in docs/identity.md. */
import { errorFactory } from '../core/index.ts';

export const IDENTITY_ERRORS = {
  identity_keys_missing: { status: 500, title: 'No signing key is available' },
  identity_kek_mismatch: { status: 500, title: 'The key-encryption key cannot open the stored keys' },
  identity_keys_unavailable: {
    status: 503,
    title: 'The keys component that seals identity secrets is unreachable or refuses identity',
  },
  identity_secret_unreadable: { status: 500, title: 'A stored secret does not open under its row' },
  identity_key_rotation: { status: 409, title: 'The key rotation phase cannot run now' },
  identity_password_policy: { status: 400, title: 'The password does not meet the password policy' },
  identity_user_exists: { status: 409, title: 'A user with that username or e-mail exists' },
  identity_user_not_found: { status: 404, title: 'No such user' },
  identity_role_not_found: { status: 404, title: 'No such role' },
  identity_client_not_found: { status: 404, title: 'No such client' },
  identity_client_invalid: { status: 400, title: 'The client metadata is not acceptable' },
  identity_invalid_token: { status: 401, title: 'The bearer token is missing, invalid, expired or revoked' },
  identity_insufficient_permission: { status: 403, title: 'The caller lacks the permission this needs' },
  identity_invitation_invalid: { status: 400, title: 'The invitation is unknown, used or expired' },
  identity_mfa_invalid: { status: 400, title: 'The second factor was not accepted' },
  identity_mfa_enrolment_refused: {
    status: 403,
    title: 'The account has a second factor; verify it before adding another',
  },
  identity_csrf: { status: 403, title: 'The form was not submitted from this site' },
  identity_throttled: { status: 429, title: 'Too many failed attempts; wait before trying again' },
  identity_interaction_expired: { status: 400, title: 'The sign-in session expired; start again' },
} as const;

export type IdentityErrorCode = keyof typeof IDENTITY_ERRORS;

export const identityError = errorFactory(IDENTITY_ERRORS, 'identity');
