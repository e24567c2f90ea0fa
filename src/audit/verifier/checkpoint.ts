/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text `<origin>\n<size>\n<base64 root>\n`,
 * optionally followed by extension lines, signed as a signed-note by the log key.
 */

import { type NoteSigner, type NoteVerifier, openNote, signNote } from './signed-note.ts';
import { HASH_SIZE } from './tree-hash.ts';
import { VerificationError } from './verification-error.ts';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

export function formatCheckpoint(cp: Checkpoint): string {
  return `${cp.origin}\n${cp.size}\n${cp.root.toString('base64')}\n`;
}

export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split('\n');
  const [origin, size, root] = lines;
  // tlog-checkpoint: size is ASCII decimal with no leading zeroes; root is a base64 SHA-256 hash.
  if (!origin || size === undefined || root === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(size)) {
    throw new VerificationError('malformed_checkpoint', 'checkpoint must be origin, size and root lines');
  }
  const rootBytes = Buffer.from(root, 'base64');
  if (rootBytes.length !== HASH_SIZE || rootBytes.toString('base64') !== root) {
    throw new VerificationError('malformed_checkpoint', 'checkpoint root is not a base64 SHA-256 hash');
  }
  const n = Number(size);
  if (!Number.isSafeInteger(n))
    throw new VerificationError('malformed_checkpoint', 'checkpoint size too large');
  return { origin, size: n, root: rootBytes };
}

export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), signer);
}

/**
 * Opens a signed checkpoint: the log key must have signed it and its origin must be the log's. The key's
 * name is the origin (tlog-checkpoint: the log's key name SHOULD be its origin).
 */
export function openCheckpoint(note: string, logKey: NoteVerifier, origin?: string): Checkpoint {
  const { text } = openNote(note, [logKey]);
  const cp = parseCheckpointText(text);
  const want = origin ?? logKey.name;
  if (cp.origin !== want)
    throw new VerificationError('origin_mismatch', `checkpoint origin ${cp.origin} is not ${want}`);
  return cp;
}
