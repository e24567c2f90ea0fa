import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memoryNodes, rangeHash } from '../merkle/proof-builder.ts';
import { verifyConsistency, verifyInclusion } from '../verifier/merkle-proof.ts';
import { leafHash } from '../verifier/tree-hash.ts';
import { TILE_WIDTH, TileTree } from './tile-tree.ts';

describe('tile tree', () => {
  it('matches a reference tree across tile boundaries (full level-0 and level-1 tiles, partial level 2), and survives a reload', async () => {
    const total = TILE_WIDTH * TILE_WIDTH + 700;
    const leaves = Array.from({ length: total }, (_, i) => leafHash(`r${i}`));
    const stored = new Map<string, Buffer>();
    const read = async (level: number, index: number) => stored.get(`${level}/${index}`);
    let tree = await TileTree.load(0, read, async () => []);
    const reference = memoryNodes(leaves);
    let at = 0;
    const batches = [1, 255, 3, 1000, 4096, 50000, 10000, total];
    for (const b of batches) {
      const n = Math.min(b, total - at);
      if (n === 0) break;
      const step = tree.prepare(leaves.slice(at, at + n));
      for (const t of step.tiles) stored.set(`${t.level}/${t.index}`, t.hashes);
      step.commit();
      at += n;
      assert.deepEqual(await tree.root(), await rangeHash(reference, 0, at), `root at ${at}`);
      // Reload from storage, as after a restart.
      tree = await TileTree.load(at, read, async (start) => leaves.slice(start, at));
      assert.deepEqual(await tree.root(), await rangeHash(reference, 0, at), `reloaded root at ${at}`);
    }
    assert.ok(stored.has('1/0'), 'a full level-1 tile was written');
    const root = await tree.root();
    for (const i of [0, 255, 256, 65535, 65536, total - 1]) {
      assert.ok(
        verifyInclusion(i, total, leaves[i]!, await tree.inclusion(i, total), root),
        `inclusion ${i}`,
      );
    }
    for (const [a, b] of [
      [1, total],
      [256, 65536],
      [65537, total],
      [300, 301],
    ] as const) {
      const ra = await tree.root(a);
      assert.ok(
        verifyConsistency(a, b, await tree.consistency(a, b), ra, await tree.root(b)),
        `${a} -> ${b}`,
      );
    }
  });

  it('forgets a prepared group whose transaction failed: the next group gets tiles and roots of its own leaves', async () => {
    // A group whose COMMIT fails (disk full, a busy timeout, a lost PostgreSQL connection) is prepared and
    // never committed; its records are retried, usually in another order or with other batches.
    const stored = new Map<string, Buffer>();
    const tree = await TileTree.load(
      0,
      async (level, index) => stored.get(`${level}/${index}`),
      async () => [],
    );
    const first = Array.from({ length: 100 }, (_, i) => leafHash(`a${i}`));
    const step = tree.prepare(first);
    step.commit();
    const failed = tree.prepare(Array.from({ length: 156 }, (_, i) => leafHash(`failed${i}`)));
    assert.equal(failed.tiles.length, 1, 'the failed group completed a tile');
    const retried = Array.from({ length: 156 }, (_, i) => leafHash(`retried${i}`));
    const ok = tree.prepare(retried);
    for (const t of ok.tiles) stored.set(`${t.level}/${t.index}`, t.hashes);
    ok.commit();
    const leaves = [...first, ...retried];
    const reference = memoryNodes(leaves);
    assert.deepEqual(await tree.root(), await rangeHash(reference, 0, 256));
    const expected = await TileTree.load(
      0,
      async () => undefined,
      async () => [],
    );
    const all = expected.prepare(leaves);
    assert.deepEqual(ok.tiles[0]!.hashes, all.tiles[0]!.hashes, 'stored tile with its interior nodes');
  });
});
