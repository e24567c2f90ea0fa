/**
 * Error codes of the embedded policy engine. They belong to the `policy` family (documented in
 * `docs/policy.md`), so the `policy` component merges this catalog into its own.
 */
import { errorFactory } from '../errors.ts';

export const POLICY_ENGINE_ERRORS = {
  policy_bundle_invalid: {
    status: 422,
    title: 'The policy bundle has syntax or schema errors and was not applied',
  },
  policy_bundle_format: { status: 400, title: 'The policy bundle document is not in the expected format' },
} as const;

export const policyEngineError = errorFactory(POLICY_ENGINE_ERRORS, 'policy');

/** One problem found while loading a bundle: where it is and what is wrong. */
export interface BundleIssue {
  /** The file as named in the bundle (relative path), e.g. `rbac.cedar` or `schema.cedarschema`. */
  file: string;
  /** 1-based line, 0 when the problem has no position (e.g. a missing file). */
  line: number;
  /** 1-based column, 0 when unknown. */
  column: number;
  message: string;
  /** Cedar's hint, when it has one. */
  help?: string;
  /** The policy the problem is in, when there is one. */
  policyId?: string;
}

/** `file:line:column: message` for people and CI logs. */
export function formatIssue(issue: BundleIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return `${where}: ${issue.message}${issue.help ? ` (${issue.help})` : ''}`;
}
