/**
 * C2SP tlog-proof@v1 (https://c2sp.org/tlog-proof): an offline proof that a record is in the log. Bulwark
 * puts the record's leaf data (its canonical JSON) in the `extra` line so one file carries everything;
 * the spec says extra data is not authenticated, and it is not trusted here: it is hashed and must lead,
 * through the inclusion proof, to the root the log key signed.
 */
import { type Checkpoint, openCheckpoint } from './checkpoint.ts';
import { verifyInclusion } from './merkle-proof.ts';
import type { NoteVerifier } from './signed-note.ts';
import { HASH_SIZE, leafHash } from './tree-hash.ts';
import { VerificationError } from './verification-error.ts';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export interface ProofBundle {
  extra?: Buffer;
  index: number;
  proof: Buffer[];
  /** The signed checkpoint, verbatim. */
  checkpoint: string;
}

export function formatProofBundle(b: ProofBundle): string {
  const lines = [TLOG_PROOF_HEADER];
  if (b.extra) lines.push(`extra ${b.extra.toString('base64')}`);
  lines.push(`index ${b.index}`, ...b.proof.map((h) => h.toString('base64')));
  return `${lines.join('\n')}\n\n${b.checkpoint}`;
}

export function parseProofBundle(text: string): ProofBundle {
  const split = text.indexOf('\n\n');
  if (split < 0) throw new VerificationError('malformed_proof', 'proof has no checkpoint');
  const head = text.slice(0, split).split('\n');
  if (head[0] !== TLOG_PROOF_HEADER)
    throw new VerificationError('malformed_proof', `first line must be ${TLOG_PROOF_HEADER}`);
  let i = 1;
  let extra: Buffer | undefined;
  if (head[i]?.startsWith('extra ')) extra = Buffer.from(head[i++]!.slice(6), 'base64');
  const m = /^index (0|[1-9][0-9]{0,15})$/.exec(head[i++] ?? '');
  if (!m) throw new VerificationError('malformed_proof', 'missing or malformed index line');
  const proof = head.slice(i).map((line) => {
    const h = Buffer.from(line, 'base64');
    if (h.length !== HASH_SIZE || h.toString('base64') !== line) {
      throw new VerificationError('malformed_proof', 'proof line is not a base64 SHA-256 hash');
    }
    return h;
  });
  return { ...(extra ? { extra } : {}), index: Number(m[1]), proof, checkpoint: text.slice(split + 2) };
}

export interface VerifiedProof {
  index: number;
  checkpoint: Checkpoint;
  /** The leaf data the proof is for (the `extra` line unless the caller gave the record). */
  leaf: Buffer;
}

/**
 * Checks a tlog-proof against the log's public key: signature on the checkpoint, then inclusion of
 * `leafData` (or the bundle's extra data) at `index`.
 *
 * @example
 * const ok = verifyProofBundle(readFileSync('r.tlog-proof', 'utf8'), parseVerifierKey(vkey));
 * console.log(ok.index, ok.checkpoint.size);
 */
export function verifyProofBundle(text: string, logKey: NoteVerifier, leafData?: Uint8Array): VerifiedProof {
  const bundle = parseProofBundle(text);
  const checkpoint = openCheckpoint(bundle.checkpoint, logKey);
  const leaf = leafData ? Buffer.from(leafData) : bundle.extra;
  if (!leaf) throw new VerificationError('malformed_proof', 'no record data given and no extra line');
  if (!verifyInclusion(bundle.index, checkpoint.size, leafHash(leaf), bundle.proof, checkpoint.root)) {
    throw new VerificationError(
      'inclusion_failed',
      `record is not at index ${bundle.index} of the signed tree`,
      bundle.index,
    );
  }
  return { index: bundle.index, checkpoint, leaf };
}
