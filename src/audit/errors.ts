/** The audit component's error catalog; each code has a row in docs/audit.md. */
import { errorFactory } from '../core/errors.ts';

export const AUDIT_ERRORS = {
  audit_schema: { status: 400, title: 'An audit record violates the record schema' },
  audit_secret_refused: { status: 400, title: 'An audit record carries a secret, which the log refuses' },
  audit_expired: { status: 400, title: "An audit record is older than its category's retention" },
  audit_id_conflict: { status: 409, title: 'A record with this id exists with different content' },
  audit_not_found: { status: 404, title: 'No such record, index or checkpoint' },
  audit_range: { status: 400, title: 'The requested index or tree size is outside the log' },
  audit_no_checkpoint: { status: 404, title: 'No signed checkpoint covers the requested record yet' },
  audit_key_mismatch: { status: 500, title: 'The stored log key does not belong to this log origin' },
  audit_forbidden: { status: 403, title: 'The caller may write to the log but not read or manage it' },
  audit_export_failed: { status: 502, title: 'The export destination refused or did not acknowledge events' },
} as const;

export type AuditErrorCode = keyof typeof AUDIT_ERRORS;
export const auditError = errorFactory(AUDIT_ERRORS, 'audit');
