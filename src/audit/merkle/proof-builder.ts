/**
 * Building RFC 9162 inclusion (§2.1.3.1) and consistency (§2.1.4.1) proofs from the hashes of complete,
 * aligned subtrees. Every range the RFC recursion asks for is either such a subtree or a right edge made of
 * O(log n) of them, so a proof costs O(log n) lookups and never a pass over the leaves.
 */
import { nodeHash, splitPoint } from '../verifier/tree-hash.ts';

/** Hash of the perfect subtree of height `height` whose leftmost leaf is `index * 2^height`. */
export type NodeLookup = (height: number, index: number) => Buffer | Promise<Buffer>;

function log2Exact(n: number): number {
  let h = 0;
  let m = n;
  while (m > 1 && m % 2 === 0) {
    m /= 2;
    h++;
  }
  return m === 1 ? h : -1;
}

/** MTH(D[lo:hi]) (RFC 9162 §2.1.1) for 0 <= lo < hi <= size. */
export async function rangeHash(node: NodeLookup, lo: number, hi: number): Promise<Buffer> {
  const n = hi - lo;
  const h = log2Exact(n);
  if (h >= 0 && lo % n === 0) return node(h, lo / n);
  const k = splitPoint(n);
  return nodeHash(await rangeHash(node, lo, lo + k), await rangeHash(node, lo + k, hi));
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]): sibling hashes from the leaf up. */
export async function inclusionProof(node: NodeLookup, index: number, size: number): Promise<Buffer[]> {
  if (index < 0 || index >= size) throw new RangeError(`index ${index} is outside a tree of size ${size}`);
  const out: Buffer[] = [];
  const walk = async (lo: number, hi: number): Promise<void> => {
    if (hi - lo === 1) return;
    const k = splitPoint(hi - lo);
    if (index - lo < k) {
      await walk(lo, lo + k);
      out.push(await rangeHash(node, lo + k, hi));
    } else {
      await walk(lo + k, hi);
      out.push(await rangeHash(node, lo, lo + k));
    }
  };
  await walk(0, size);
  return out;
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
export async function consistencyProof(node: NodeLookup, size1: number, size2: number): Promise<Buffer[]> {
  if (size1 < 0 || size2 < size1) throw new RangeError(`cannot prove ${size1} -> ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  const out: Buffer[] = [];
  const sub = async (m: number, lo: number, hi: number, complete: boolean): Promise<void> => {
    if (m === hi - lo) {
      if (!complete) out.push(await rangeHash(node, lo, hi));
      return;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      await sub(m, lo, lo + k, complete);
      out.push(await rangeHash(node, lo + k, hi));
    } else {
      await sub(m - k, lo + k, hi, false);
      out.push(await rangeHash(node, lo, lo + k));
    }
  };
  await sub(size1, 0, size2, true);
  return out;
}

/** A node lookup over leaf hashes held in memory (tests and small trees). */
export function memoryNodes(leaves: readonly Buffer[]): NodeLookup {
  const memo = new Map<string, Buffer>();
  const node = (height: number, index: number): Buffer => {
    if (height === 0) return leaves[index]!;
    const key = `${height}/${index}`;
    let h = memo.get(key);
    if (!h) {
      h = nodeHash(node(height - 1, index * 2), node(height - 1, index * 2 + 1));
      memo.set(key, h);
    }
    return h;
  };
  return node;
}
