/**
 * The one error the stand-alone verifier throws. `code` says what failed; `index` names the first log
 * index that cannot be trusted when the failure is about the log's content.
 */
export type VerificationCode =
  | 'malformed_note'
  | 'malformed_checkpoint'
  | 'malformed_proof'
  | 'malformed_key'
  | 'bad_signature'
  | 'unknown_key'
  | 'origin_mismatch'
  | 'inclusion_failed'
  | 'consistency_failed'
  | 'leaf_mismatch'
  | 'record_mismatch'
  | 'missing_record'
  | 'rolled_back'
  | 'root_mismatch'
  /** Records, and not one signed checkpoint (stored or anchored) that covers any of them. */
  | 'unsigned';

export class VerificationError extends Error {
  readonly code: VerificationCode;
  readonly index: number | undefined;
  constructor(code: VerificationCode, message: string, index?: number) {
    super(message);
    this.name = 'VerificationError';
    this.code = code;
    this.index = index;
  }
}
