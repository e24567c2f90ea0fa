/**
 * The Merkle tree stored as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): a tile at level L holds up to
 * 256 hashes of nodes at height 8L. Full tiles are written once, in the transaction that appends their
 * last record; the right edge (one partial tile per level) lives in memory and is rebuilt from the records
 * and full tiles at start. Any complete subtree hash is then at most one tile read plus up to 255 hashes
 * inside that tile (memoised), which keeps an inclusion proof in a 10-million-record log well under 1 ms.
 */

import { consistencyProof, inclusionProof, type NodeLookup, rangeHash } from '../merkle/proof-builder.ts';
import { EMPTY_ROOT, nodeHash } from '../verifier/tree-hash.ts';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Bytes of a full tlog-tiles tile (256 SHA-256 hashes). */
export const TILE_BYTES = TILE_WIDTH * 32;
const STORED_TILE_BYTES = (2 * TILE_WIDTH - 1) * 32;

/** One tile: its entries and the interior nodes computed so far (valid forever: the tree only grows). */
export class Tile {
  readonly entries: Buffer[];
  readonly #memo: Map<number, Buffer>;
  constructor(entries: Buffer[], memo = new Map<number, Buffer>()) {
    this.entries = entries;
    this.#memo = memo;
  }

  /**
   * A stored full tile is its 256 entries followed by its 255 interior nodes (heights 1..8, left to right),
   * so a proof reads siblings instead of re-hashing up to 255 nodes. Only the first 8 KiB is the tlog-tiles
   * tile served to outsiders.
   */
  static fromBlob(blob: Uint8Array): Tile {
    const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    const entries: Buffer[] = [];
    const width = Math.min(buf.length, TILE_BYTES);
    for (let o = 0; o < width; o += 32) entries.push(buf.subarray(o, o + 32));
    const memo = new Map<number, Buffer>();
    if (buf.length === STORED_TILE_BYTES) {
      let at = TILE_BYTES;
      for (let r = 1; r <= TILE_HEIGHT; r++) {
        for (let offset = 0; offset < TILE_WIDTH; offset += 2 ** r, at += 32)
          memo.set(r * 512 + offset, buf.subarray(at, at + 32));
      }
    }
    return new Tile(entries, memo);
  }

  /** Entries plus interior nodes, for storage (the tile must be full). */
  storedBlob(): Buffer {
    const parts = [...this.entries];
    for (let r = 1; r <= TILE_HEIGHT; r++)
      for (let offset = 0; offset < TILE_WIDTH; offset += 2 ** r) parts.push(this.node(r, offset));
    return Buffer.concat(parts);
  }

  /** Hash of the perfect subtree of height r (0..8) over entries [offset, offset + 2^r). */
  node(r: number, offset: number): Buffer {
    if (r === 0) {
      const e = this.entries[offset];
      if (!e) throw new RangeError(`tile entry ${offset} is not there yet`);
      return e;
    }
    const key = r * 512 + offset;
    let h = this.#memo.get(key);
    if (!h) {
      const half = 2 ** (r - 1);
      h = nodeHash(this.node(r - 1, offset), this.node(r - 1, offset + half));
      this.#memo.set(key, h);
    }
    return h;
  }

  /**
   * A new tile with `more` entries appended. The memo is copied, not shared: the extended tile belongs to a
   * prepared group that may never commit, and nodes it memoises over its new entries would otherwise be
   * taken by the next group extending the same committed tile with other leaves.
   */
  extend(more: Buffer[]): Tile {
    return new Tile([...this.entries, ...more], new Map(this.#memo));
  }

  blob(): Buffer {
    return Buffer.concat(this.entries);
  }
}

export interface FullTile {
  level: number;
  index: number;
  hashes: Buffer;
}

/** Reads a full tile from storage; undefined when it is not there. */
export type TileReader = (level: number, index: number) => Promise<Uint8Array | undefined>;

// Level-0 tiles are rarely reused by random proofs; higher levels stay hot. ~16 KiB each.
const CACHE_TILES = 512;

export class TileTree {
  #size: number;
  /** partial[L]: the tile at level L that is not full yet. */
  #partial: Tile[];
  readonly #cache = new Map<string, Tile>();
  readonly #read: TileReader;
  readonly lookup: NodeLookup;

  constructor(size: number, partial: Tile[], read: TileReader) {
    this.#size = size;
    this.#partial = partial;
    this.#read = read;
    this.lookup = (height, index) => this.#node(height, index);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Rebuilds the right edge from storage: partial level-0 tile from the last records' leaf hashes, each
   * higher partial tile from the roots of the full tiles below it.
   */
  static async load(
    size: number,
    read: TileReader,
    leavesFrom: (start: number) => Promise<Buffer[]>,
  ): Promise<TileTree> {
    const partial: Tile[] = [];
    const start0 = Math.floor(size / TILE_WIDTH) * TILE_WIDTH;
    partial.push(new Tile(size > start0 ? await leavesFrom(start0) : []));
    for (let level = 1; TILE_WIDTH ** level <= size; level++) {
      const below = Math.floor(size / TILE_WIDTH ** level); // full tiles at level - 1
      const first = Math.floor(below / TILE_WIDTH) * TILE_WIDTH;
      const entries: Buffer[] = [];
      for (let t = first; t < below; t++) {
        const blob = await read(level - 1, t);
        if (!blob) throw new Error(`tile ${level - 1}/${t} is missing`);
        entries.push(Tile.fromBlob(blob).node(TILE_HEIGHT, 0));
      }
      partial.push(new Tile(entries));
    }
    return new TileTree(size, partial, read);
  }

  /**
   * Works out the full tiles that appending `leaves` completes, without changing the tree; `commit` applies
   * it once the transaction that stores those tiles has committed.
   */
  prepare(leaves: Buffer[]): { tiles: FullTile[]; commit(): void } {
    const partial = [...this.#partial];
    const tiles: FullTile[] = [];
    const completed: { key: string; tile: Tile }[] = [];
    const size = this.#size;
    let carry: Buffer[] = leaves;
    for (let level = 0; carry.length > 0; level++) {
      const next: Buffer[] = [];
      let tile = partial[level] ?? new Tile([]);
      let offset = 0;
      while (offset < carry.length) {
        const take = Math.min(TILE_WIDTH - tile.entries.length, carry.length - offset);
        tile = tile.extend(carry.slice(offset, offset + take));
        offset += take;
        if (tile.entries.length === TILE_WIDTH) {
          const tileIndex = this.#fullTilesAt(level, size) + tiles.filter((t) => t.level === level).length;
          tiles.push({ level, index: tileIndex, hashes: tile.storedBlob() });
          completed.push({ key: `${level}/${tileIndex}`, tile });
          next.push(tile.node(TILE_HEIGHT, 0));
          tile = new Tile([]);
        }
      }
      partial[level] = tile;
      carry = next;
    }
    return {
      tiles,
      commit: () => {
        this.#partial = partial;
        this.#size += leaves.length;
        for (const c of completed) this.#remember(c.key, c.tile);
      },
    };
  }

  #fullTilesAt(level: number, size: number): number {
    return Math.floor(size / TILE_WIDTH ** (level + 1));
  }

  #remember(key: string, tile: Tile): void {
    this.#cache.delete(key);
    this.#cache.set(key, tile);
    if (this.#cache.size > CACHE_TILES) this.#cache.delete(this.#cache.keys().next().value!);
  }

  async #tile(level: number, index: number): Promise<Tile> {
    if (index === this.#fullTilesAt(level, this.#size)) return this.#partial[level]!;
    const key = `${level}/${index}`;
    const cached = this.#cache.get(key);
    if (cached) {
      this.#remember(key, cached);
      return cached;
    }
    const blob = await this.#read(level, index);
    if (!blob) throw new Error(`tile ${key} is missing from storage`);
    const tile = Tile.fromBlob(blob);
    this.#remember(key, tile);
    return tile;
  }

  async #node(height: number, index: number): Promise<Buffer> {
    const level = Math.floor(height / TILE_HEIGHT);
    const r = height - level * TILE_HEIGHT;
    const position = index * 2 ** r;
    const tile = await this.#tile(level, Math.floor(position / TILE_WIDTH));
    return tile.node(r, position % TILE_WIDTH);
  }

  /** The partial tile at a level (for the tlog-tiles `.p/W` read path). */
  partialTile(level: number): Buffer | undefined {
    return this.#partial[level]?.blob();
  }

  root(size = this.#size): Promise<Buffer> {
    if (size > this.#size) throw new RangeError(`size ${size} is beyond the log (${this.#size})`);
    if (size === 0) return Promise.resolve(EMPTY_ROOT);
    return rangeHash(this.lookup, 0, size);
  }

  inclusion(index: number, size: number): Promise<Buffer[]> {
    return inclusionProof(this.lookup, index, size);
  }

  consistency(size1: number, size2: number): Promise<Buffer[]> {
    return consistencyProof(this.lookup, size1, size2);
  }
}
