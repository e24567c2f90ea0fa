/** Masking of sensitive values per role: pure functions the gateway and the log redactor apply. */
export {
  applyMasking,
  compileMaskingPolicy,
  type MaskingPolicy,
  type MaskingRules,
  revealedFields,
} from './masking-policy.ts';
export {
  FULL_MASK,
  MASK_KINDS,
  type MaskKind,
  maskCard,
  maskEmail,
  maskLast4,
  maskPhone,
  maskSsn,
  maskValue,
} from './masks.ts';
