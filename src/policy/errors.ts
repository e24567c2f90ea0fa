/** The `policy` family of error codes (documented in `docs/policy.md`), engine codes included. */
import { errorFactory } from '../core/index.ts';
import { POLICY_ENGINE_ERRORS } from '../core/policy-engine/index.ts';

export const POLICY_ERRORS = {
  ...POLICY_ENGINE_ERRORS,
  policy_not_found: { status: 404, title: 'No policy document with that name' },
  policy_read_only: {
    status: 409,
    title: 'The policy comes from the policy directory and cannot be changed through the API',
  },
  policy_version_not_found: { status: 404, title: 'No bundle with that version' },
  policy_directory_unreadable: { status: 500, title: 'The policy directory cannot be read' },
  policy_request_invalid: { status: 400, title: 'An entity or action reference is malformed' },
  policy_test_invalid: { status: 400, title: 'A policy test file is malformed' },
  policy_forbidden: { status: 403, title: 'The caller may not change the policy set' },
} as const;

export const policyError = errorFactory(POLICY_ERRORS, 'policy');
