/**
 * Native blocks for the calls' tensor arrays, kept for reuse. Making a block costs a malloc
 * and, above all, koffi's view of it (an external ArrayBuffer, several microseconds and work
 * for the garbage collector); a task of a small model needs one block of well under 1 KiB.
 * So a completed task's block goes back to a short free list, and the next call takes it.
 */

import type { LibdnnDnn, NativeBlock } from './libdnn.js';

/** Blocks are made in powers of two from this size, so that one fits many calls. */
const MIN_BLOCK = 1024;

export class BlockPool {
  readonly #lib: LibdnnDnn;
  readonly #keep: number;
  readonly #free: NativeBlock[] = [];

  constructor(lib: LibdnnDnn, keep = 16) {
    this.#lib = lib;
    this.#keep = keep;
  }

  /** A block of at least `size` bytes, the first `size` of them zero. Throws when malloc fails. */
  take(size: number): NativeBlock {
    for (let i = this.#free.length - 1; i >= 0; i--) {
      const b = this.#free[i]!;
      if (b.size < size) continue;
      this.#free.splice(i, 1);
      new Uint8Array(b.bytes.buffer, b.bytes.byteOffset, size).fill(0);
      return b;
    }
    return this.#lib.allocBlock(Math.max(MIN_BLOCK, 2 ** Math.ceil(Math.log2(size))));
  }

  /** Takes back a block nothing of C's reads any more. */
  give(block: NativeBlock): void {
    if (this.#free.length < this.#keep) this.#free.push(block);
    else this.#lib.freeBlock(block);
  }
}
