/** The audit component's public names. */

export { type AuditOptions, auditComponent, createAuditComponent } from './component.ts';
export { AUDIT_CONFIG_PROPERTIES, type AuditSettings } from './config.ts';
export { AUDIT_ERRORS, type AuditErrorCode, auditError } from './errors.ts';
export { canonicalJson } from './record/canonical-json.ts';
export { type AuditRecord, normaliseRecord } from './record/record-schema.ts';
export type { SubjectKeysApi } from './shred/keys-calls.ts';
export { type Checkpoint, openCheckpoint, parseCheckpointText } from './verifier/checkpoint.ts';
export { httpLogSource } from './verifier/http-log-source.ts';
export { type LogReport, type LogSource, verifyLog } from './verifier/log-verifier.ts';
export { verifyConsistency, verifyInclusion } from './verifier/merkle-proof.ts';
export { type ProofBundle, parseProofBundle, verifyProofBundle } from './verifier/proof-bundle.ts';
export { type NoteVerifier, parseVerifierKey } from './verifier/signed-note.ts';
export { leafHash, nodeHash } from './verifier/tree-hash.ts';
export { type VerificationCode, VerificationError } from './verifier/verification-error.ts';
