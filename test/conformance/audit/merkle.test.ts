/**
 * Known-answer tests for RFC 6962 / RFC 9162 tree hashing and proofs.
 * Source of the vectors: github.com/transparency-dev/merkle, testonly/constants.go (LeafInputs,
 * NodeHashes, RootHashes) and proof/verify_test.go (inclusionProofs, consistencyProofs), which are the
 * Certificate Transparency reference vectors (originally from the C++ CT implementation of RFC 6962).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  consistencyProof,
  inclusionProof,
  memoryNodes,
  rangeHash,
} from '../../../src/audit/merkle/proof-builder.ts';
import { verifyConsistency, verifyInclusion } from '../../../src/audit/verifier/merkle-proof.ts';
import { CompactRange, EMPTY_ROOT, leafHash } from '../../../src/audit/verifier/tree-hash.ts';

const hd = (h: string) => Buffer.from(h, 'hex');
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hd);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(hd);
const LEAF_HASHES_HEX = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
  '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
  '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
  'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
  '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
  'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
  '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
];
// proof/verify_test.go: inclusionProofs use a 1-based leaf number.
const INCLUSION: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

const hashes = LEAVES.map((l) => leafHash(l));
const nodes = memoryNodes(hashes);

describe('RFC 6962 tree hashing (CT reference vectors)', () => {
  it('hashes each leaf with the 0x00 prefix to the reference value', () => {
    assert.deepEqual(
      hashes.map((h) => h.toString('hex')),
      LEAF_HASHES_HEX,
    );
  });

  it('computes the reference root for every tree size from 0 to 8', async () => {
    assert.deepEqual(EMPTY_ROOT, ROOTS[0]);
    for (let n = 1; n <= 8; n++) assert.deepEqual(await rangeHash(nodes, 0, n), ROOTS[n], `size ${n}`);
  });

  it('gives the same roots through the compact range used by verify', () => {
    const range = new CompactRange();
    assert.deepEqual(range.root(), ROOTS[0]);
    for (let n = 1; n <= 8; n++) {
      range.append(hashes[n - 1]!);
      assert.deepEqual(range.root(), ROOTS[n], `size ${n}`);
    }
  });
});

describe('RFC 9162 inclusion proofs (CT reference vectors)', () => {
  for (const [leaf, size, want] of INCLUSION) {
    it(`builds and verifies the reference proof of leaf ${leaf - 1} in a tree of ${size}`, async () => {
      const proof = await inclusionProof(nodes, leaf - 1, size);
      assert.deepEqual(
        proof.map((h) => h.toString('hex')),
        want,
      );
      assert.ok(verifyInclusion(leaf - 1, size, hashes[leaf - 1]!, proof, ROOTS[size]!));
    });
  }

  it('rejects every corruption of a valid proof (wrong index, size, leaf, root, extra or missing hash)', async () => {
    const proof = await inclusionProof(nodes, 5, 8);
    const root = ROOTS[8]!;
    const leaf = hashes[5]!;
    assert.equal(verifyInclusion(4, 8, leaf, proof, root), false);
    assert.equal(verifyInclusion(6, 8, leaf, proof, root), false);
    assert.equal(verifyInclusion(5, 16, leaf, proof, root), false);
    assert.equal(verifyInclusion(5, 4, leaf, proof, root), false);
    assert.equal(verifyInclusion(5, 8, hashes[4]!, proof, root), false);
    assert.equal(verifyInclusion(5, 8, leaf, proof, ROOTS[7]!), false);
    assert.equal(verifyInclusion(5, 8, leaf, [...proof, root], root), false);
    assert.equal(verifyInclusion(5, 8, leaf, [root, ...proof], root), false);
    assert.equal(verifyInclusion(5, 8, leaf, proof.slice(0, -1), root), false);
    for (let i = 0; i < proof.length; i++) {
      const bad = proof.map((h) => Buffer.from(h));
      bad[i]![0]! ^= 8;
      assert.equal(verifyInclusion(5, 8, leaf, bad, root), false, `bit flip in proof[${i}]`);
    }
  });

  it('verifies a generated proof for every leaf of every tree up to 40 leaves', async () => {
    const many = Array.from({ length: 40 }, (_, i) => leafHash(`leaf ${i}`));
    const lookup = memoryNodes(many);
    for (let size = 1; size <= 40; size++) {
      const root = await rangeHash(lookup, 0, size);
      for (let i = 0; i < size; i++) {
        assert.ok(
          verifyInclusion(i, size, many[i]!, await inclusionProof(lookup, i, size), root),
          `${i}/${size}`,
        );
      }
    }
  });
});

describe('RFC 9162 consistency proofs (CT reference vectors)', () => {
  for (const [size1, size2, want] of CONSISTENCY) {
    it(`builds and verifies the reference proof from ${size1} to ${size2}`, async () => {
      const proof = await consistencyProof(nodes, size1, size2);
      assert.deepEqual(
        proof.map((h) => h.toString('hex')),
        want,
      );
      assert.ok(verifyConsistency(size1, size2, proof, ROOTS[size1]!, ROOTS[size2]!));
    });
  }

  it('rejects a proof with swapped roots, wrong sizes, a truncated path or a flipped bit', async () => {
    const proof = await consistencyProof(nodes, 6, 8);
    const [r1, r2] = [ROOTS[6]!, ROOTS[8]!];
    assert.equal(verifyConsistency(6, 8, proof, r2, r1), false);
    assert.equal(verifyConsistency(5, 8, proof, r1, r2), false);
    assert.equal(verifyConsistency(6, 16, proof, r1, r2), false);
    assert.equal(verifyConsistency(8, 6, proof, r1, r2), false);
    assert.equal(verifyConsistency(6, 8, [], r1, r2), false);
    assert.equal(verifyConsistency(6, 8, proof.slice(0, -1), r1, r2), false);
    assert.equal(verifyConsistency(6, 8, [...proof, r1], r1, r2), false);
    for (let i = 0; i < proof.length; i++) {
      const bad = proof.map((h) => Buffer.from(h));
      bad[i]![0]! ^= 16;
      assert.equal(verifyConsistency(6, 8, bad, r1, r2), false, `bit flip in proof[${i}]`);
    }
  });

  it('verifies generated proofs between every pair of sizes up to 40', async () => {
    const many = Array.from({ length: 40 }, (_, i) => leafHash(`leaf ${i}`));
    const lookup = memoryNodes(many);
    const roots = [EMPTY_ROOT];
    for (let n = 1; n <= 40; n++) roots.push(await rangeHash(lookup, 0, n));
    for (let a = 0; a <= 40; a++) {
      for (let b = a; b <= 40; b++) {
        const proof = await consistencyProof(lookup, a, b);
        assert.ok(verifyConsistency(a, b, proof, roots[a]!, roots[b]!), `${a} -> ${b}`);
        if (a > 0 && a < b) assert.equal(verifyConsistency(a, b, proof, roots[a]!, roots[b - 1]!), false);
      }
    }
  });
});
