/**
 * RFC 9162 §2.1.1 Merkle tree hashing with SHA-256 (the same as RFC 6962 §2.1). Leaves and interior nodes
 * carry different one-byte prefixes so that a leaf can never be passed off as a node (second-preimage
 * defence). No dependency beyond node:crypto: this file is part of the stand-alone verifier.
 */
import { createHash, hash } from 'node:crypto';

/** RFC 9162 §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export const LEAF_HASH_PREFIX = 0x00;
/** RFC 9162 §2.1.1: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])). */
export const NODE_HASH_PREFIX = 0x01;
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([LEAF_HASH_PREFIX]);
const NODE_PREFIX = Buffer.from([NODE_HASH_PREFIX]);

/** RFC 9162 §2.1.1: the hash of an empty tree is SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** Hash of one leaf's data (attacker-controlled bytes; the prefix makes it distinct from any node). */
export function leafHash(data: Uint8Array | string): Buffer {
  // U+0000 is the single byte 0x00 in UTF-8: one-shot hashing of the prefixed string is the same digest,
  // and about a third cheaper than a streaming Hash object on the ingest and verify hot paths.
  if (typeof data === 'string') return hash('sha256', `\0${data}`, 'buffer');
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

// 0x01 || left || right, reused: one-shot hashing of one buffer is several times cheaper than a streaming
// Hash object with three updates, and interior nodes are half of all hashing on append and verify.
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE);
NODE_INPUT[0] = NODE_HASH_PREFIX;

/** Hash of an interior node from its two children. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE)
    return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 1 + HASH_SIZE);
  return hash('sha256', NODE_INPUT, 'buffer');
}

/** Largest power of two strictly smaller than n (n >= 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The compact range [0, size): the roots of the perfect subtrees that make up a prefix of the log, largest
 * first. Appending leaves and asking for the root costs O(log n), which is how `verify` re-checks every
 * checkpoint of a long log in one pass.
 */
export class CompactRange {
  #size = 0;
  readonly #stack: Buffer[] = [];

  get size(): number {
    return this.#size;
  }

  append(hash: Buffer): void {
    let h = hash;
    // Merge while the lowest bits of the new size are zero: each 1-bit of size is one stored subtree.
    let n = this.#size;
    while (n % 2 === 1) {
      h = nodeHash(this.#stack.pop()!, h);
      n = Math.floor(n / 2);
    }
    this.#stack.push(h);
    this.#size++;
  }

  /** MTH of the leaves appended so far. */
  root(): Buffer {
    if (this.#stack.length === 0) return EMPTY_ROOT;
    let h = this.#stack[this.#stack.length - 1]!;
    for (let i = this.#stack.length - 2; i >= 0; i--) h = nodeHash(this.#stack[i]!, h);
    return h;
  }
}
