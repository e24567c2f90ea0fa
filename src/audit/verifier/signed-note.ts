/**
 * C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys: the envelope of every checkpoint.
 * A note is text ending in a newline, a blank line, then one line per signature:
 * `— <key name> <base64(key ID || signature)>`. The key ID is the first four bytes of
 * SHA-256(key name || 0x0A || 0x01 || public key), so a signature names the key and algorithm it needs.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { VerificationError } from './verification-error.ts';

/** signed-note signature type 0x01: Ed25519. */
export const ED25519_SIGNATURE_TYPE = 0x01;
const EM_DASH = '\u2014';
const MAX_SIGNATURES = 100;
// RFC 8410 DER prefixes: an Ed25519 SubjectPublicKeyInfo and PKCS#8 PrivateKeyInfo around the raw 32 bytes.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Key name rules (signed-note): non-empty, no spaces, no `+`, no newline. */
function checkName(name: string): void {
  if (!name || /[\s+]/.test(name))
    throw new VerificationError('malformed_key', `invalid key name ${JSON.stringify(name)}`);
}

export function keyId(name: string, publicKey: Uint8Array): Buffer {
  return createHash('sha256')
    .update(`${name}\n`)
    .update(Buffer.from([ED25519_SIGNATURE_TYPE]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

export interface NoteVerifier {
  name: string;
  id: Buffer;
  key: KeyObject;
  /** The verifier key in text form `<name>+<hex id>+<base64(0x01 || key)>`. */
  vkey: string;
}

export interface NoteSigner extends NoteVerifier {
  privateKey: KeyObject;
}

/** Splits on the first `count - 1` plus signs: the base64 key at the end may itself contain `+`. */
function splitKey(text: string, count: number): string[] | undefined {
  const out: string[] = [];
  let rest = text;
  for (let i = 1; i < count; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return undefined;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

/** Parses a verifier key `<name>+<hex key ID>+<base64(0x01 || public key)>`, checking that the ID matches. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const parts = splitKey(vkey.trim(), 3);
  if (!parts) throw new VerificationError('malformed_key', 'verifier key must be name+id+key');
  const [name, hexId, b64] = parts as [string, string, string];
  checkName(name);
  const raw = Buffer.from(b64, 'base64');
  if (!/^[0-9a-f]{8}$/.test(hexId) || raw.length !== 33 || raw[0] !== ED25519_SIGNATURE_TYPE) {
    throw new VerificationError('malformed_key', 'verifier key is not an Ed25519 signed-note key');
  }
  const pub = raw.subarray(1);
  const id = keyId(name, pub);
  if (id.toString('hex') !== hexId)
    throw new VerificationError('malformed_key', 'verifier key ID does not match the key');
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
  return { name, id, key, vkey: `${name}+${hexId}+${b64}` };
}

/** Builds a signer from a name and a 32-byte Ed25519 seed. */
export function signerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  checkName(name);
  if (seed.length !== 32) throw new VerificationError('malformed_key', 'an Ed25519 seed is 32 bytes');
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const id = keyId(name, pub);
  const vkey = `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([ED25519_SIGNATURE_TYPE]), pub]).toString('base64')}`;
  return { name, id, key: publicKey, vkey, privateKey };
}

/** Parses the Go-compatible private key form `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`. */
export function parseSignerKey(skey: string): NoteSigner {
  const parts = splitKey(skey.trim(), 5);
  if (parts?.[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new VerificationError('malformed_key', 'signer key must be PRIVATE+KEY+name+id+key');
  }
  const raw = Buffer.from(parts[4]!, 'base64');
  if (raw.length !== 33 || raw[0] !== ED25519_SIGNATURE_TYPE)
    throw new VerificationError('malformed_key', 'not an Ed25519 key');
  const signer = signerFromSeed(parts[2]!, raw.subarray(1));
  if (signer.id.toString('hex') !== parts[3])
    throw new VerificationError('malformed_key', 'signer key ID does not match');
  return signer;
}

/** Signs `text` (non-empty lines, each ending in a newline) and returns the whole note. */
export function signNote(text: string, signer: NoteSigner): string {
  if (!text.endsWith('\n') || text.includes('\n\n') || text.startsWith('\n')) {
    throw new VerificationError(
      'malformed_note',
      'note text must be non-empty lines, each ending in a newline',
    );
  }
  const sig = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  return `${text}\n${EM_DASH} ${signer.name} ${Buffer.concat([signer.id, sig]).toString('base64')}\n`;
}

export interface OpenedNote {
  text: string;
  /** Names of the trusted keys whose signatures verified. */
  verifiedBy: string[];
}

/**
 * Opens a note: splits text from signatures and checks them against the trusted verifiers. Succeeds only
 * when at least one trusted key signed it; a line claiming a trusted key whose signature fails is an error.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n'))
    throw new VerificationError('malformed_note', 'note has no signature block');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new VerificationError('malformed_note', 'too many signatures');
  const verifiedBy: string[] = [];
  for (const line of lines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new VerificationError('malformed_note', 'malformed signature line');
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length < 5) throw new VerificationError('malformed_note', 'signature too short');
    const v = verifiers.find((x) => x.name === m[1] && x.id.equals(raw.subarray(0, 4)));
    if (!v) continue; // Unknown keys (witnesses we do not trust) are ignored, per signed-note.
    if (!verify(null, Buffer.from(text, 'utf8'), v.key, raw.subarray(4))) {
      throw new VerificationError(
        'bad_signature',
        `invalid signature for key ${v.name}+${v.id.toString('hex')}`,
      );
    }
    verifiedBy.push(v.name);
  }
  if (verifiedBy.length === 0)
    throw new VerificationError('unknown_key', 'note is not signed by a trusted key');
  return { text, verifiedBy };
}
