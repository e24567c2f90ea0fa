/**
 * Known-answer tests for C2SP signed-note and tlog-proof.
 * Source of the key and signature vectors: golang.org/x/mod/sumdb/note, note_test.go (TestSign, TestOpen:
 * the PeterNeumann and EnochRoot keys), the reference implementation of the signed-note format.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inclusionProof, memoryNodes, rangeHash } from '../../../src/audit/merkle/proof-builder.ts';
import {
  formatCheckpoint,
  openCheckpoint,
  parseCheckpointText,
  signCheckpoint,
} from '../../../src/audit/verifier/checkpoint.ts';
import {
  formatProofBundle,
  parseProofBundle,
  verifyProofBundle,
} from '../../../src/audit/verifier/proof-bundle.ts';
import {
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signerFromSeed,
  signNote,
} from '../../../src/audit/verifier/signed-note.ts';
import { leafHash } from '../../../src/audit/verifier/tree-hash.ts';
import { VerificationError } from '../../../src/audit/verifier/verification-error.ts';

const SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

const code = (c: string) => (err: unknown) => err instanceof VerificationError && err.code === c;

describe('C2SP signed-note (sumdb/note vectors)', () => {
  it('derives the reference verifier key from the reference signer key', () => {
    assert.equal(parseSignerKey(SKEY).vkey, VKEY);
  });

  it('produces the reference signature byte for byte (Ed25519 is deterministic)', () => {
    assert.equal(signNote(TEXT, parseSignerKey(SKEY)), `${TEXT}\n${PETER_SIG}`);
  });

  it('opens a note signed by a trusted key and ignores a signature by an untrusted one', () => {
    const opened = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [parseVerifierKey(VKEY)]);
    assert.equal(opened.text, TEXT);
    assert.deepEqual(opened.verifiedBy, ['PeterNeumann']);
    assert.deepEqual(
      openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [parseVerifierKey(VKEY), parseVerifierKey(ENOCH)])
        .verifiedBy,
      ['PeterNeumann', 'EnochRoot'],
    );
  });

  it('refuses a note whose text was changed after signing', () => {
    assert.throws(
      () => openNote(`${TEXT.replace('answer', 'Answer')}\n${PETER_SIG}`, [parseVerifierKey(VKEY)]),
      code('bad_signature'),
    );
  });

  it('refuses a note signed only by keys it does not trust', () => {
    assert.throws(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [parseVerifierKey(VKEY)]), code('unknown_key'));
  });

  it('refuses malformed notes: no blank line, missing final newline, garbage after the signatures', () => {
    const v = [parseVerifierKey(VKEY)];
    assert.throws(() => openNote(TEXT, v), code('malformed_note'));
    assert.throws(() => openNote(`${TEXT}\n${PETER_SIG.slice(0, -1)}`, v), code('malformed_note'));
    assert.throws(() => openNote(`${TEXT}\n${PETER_SIG}Unexpected line.\n`, v), code('malformed_note'));
  });

  it('rejects a verifier key whose ID does not match its key', () => {
    assert.throws(() => parseVerifierKey(VKEY.replace('c74f20a3', 'c74f20a4')), code('malformed_key'));
    assert.throws(
      () => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'),
      code('malformed_key'),
    );
  });
});

describe('C2SP tlog-checkpoint and tlog-proof@v1', () => {
  const signer = signerFromSeed('audit.example/log', Buffer.alloc(32, 7));
  const verifier = parseVerifierKey(signer.vkey);

  it('formats a checkpoint as origin, size and base64 root lines', () => {
    const root = Buffer.alloc(32, 1);
    assert.equal(formatCheckpoint({ origin: 'o', size: 12, root }), `o\n12\n${root.toString('base64')}\n`);
    assert.throws(
      () => parseCheckpointText(`o\n012\n${root.toString('base64')}\n`),
      code('malformed_checkpoint'),
    );
  });

  it('refuses a checkpoint from another log even when the key verifies', () => {
    const note = signCheckpoint({ origin: 'audit.example/log', size: 1, root: Buffer.alloc(32) }, signer);
    assert.throws(() => openCheckpoint(note, verifier, 'other.example/log'), code('origin_mismatch'));
  });

  it('round-trips a proof bundle and verifies it offline; a changed record fails', async () => {
    const leaves = Array.from({ length: 11 }, (_, i) => Buffer.from(`{"index":${i}}`));
    const lookup = memoryNodes(leaves.map((l) => leafHash(l)));
    const root = await rangeHash(lookup, 0, 11);
    const checkpoint = signCheckpoint({ origin: 'audit.example/log', size: 11, root }, signer);
    const text = formatProofBundle({
      extra: leaves[6]!,
      index: 6,
      proof: await inclusionProof(lookup, 6, 11),
      checkpoint,
    });
    assert.match(text, /^c2sp\.org\/tlog-proof@v1\nextra [A-Za-z0-9+/=]+\nindex 6\n/);
    assert.equal(parseProofBundle(text).proof.length, 4);
    assert.equal(verifyProofBundle(text, verifier).index, 6);
    assert.throws(
      () => verifyProofBundle(text, verifier, Buffer.from('{"index":7}')),
      code('inclusion_failed'),
    );
    const other = parseVerifierKey(signerFromSeed('audit.example/log', Buffer.alloc(32, 8)).vkey);
    assert.throws(() => verifyProofBundle(text, other), code('unknown_key'));
  });
});
