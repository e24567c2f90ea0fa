/**
 * Random GCM nonces drawn in blocks: one call to the random source yields 1,024 nonces, which removes a
 * system call per encryption from the hot path. Each nonce is still 96 fresh CSPRNG bits, used once
 * (NIST SP 800-38D §8.2.2, RBG-based construction); a block is never handed out twice.
 */
import type { RandomSource } from '../../core/keys-provider/index.ts';

const NONCE = 12;
const PER_BLOCK = 1024;

export class NoncePool {
  readonly #random: RandomSource;
  #block: Buffer = Buffer.alloc(0);
  #offset = 0;

  constructor(random: RandomSource) {
    this.#random = random;
  }

  next(): Buffer {
    if (this.#offset + NONCE > this.#block.byteLength) {
      this.#block = this.#random(NONCE * PER_BLOCK);
      this.#offset = 0;
    }
    const nonce = this.#block.subarray(this.#offset, this.#offset + NONCE);
    this.#offset += NONCE;
    return nonce;
  }
}
