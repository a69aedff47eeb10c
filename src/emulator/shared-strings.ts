/**
 * A string table in shared memory: the labels and allocation stacks of the slot table's
 * rows, readable from every thread. A row holds an index here (-1: none), so an allocation
 * without a label or stack (the common case) writes nothing.
 *
 * Entries are appended and never removed (labels and stacks repeat: each thread interns
 * what it wrote and read, so a label used for a million allocations is stored once per
 * thread that wrote it). Layout: word 0 the bytes used; each entry a 32-bit byte length
 * then the UTF-8 bytes, 4-aligned. Writes run under the board's lock; an entry is complete
 * before its index is published in a row, and is never changed, so reads need no lock.
 * When the table is full, a string is not shared (-1): the thread that made the mapping
 * still has it (see AddressSpace.mappingAt), other threads see none.
 */

import { growableShared } from './tlsf.js';

/** The most bytes of strings kept. */
const MAX_BYTES = 16 << 20;
const FIRST = 8;

/** One thread's side of the table. */
export class SharedStrings {
  private readonly buffer: SharedArrayBuffer & { grow(n: number): void };
  private view: Buffer;
  private readonly used: Int32Array;
  /** What this thread wrote or read, both ways. */
  private readonly indexOf = new Map<string, number>();
  private readonly textOf = new Map<number, string>();

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer as SharedArrayBuffer & { grow(n: number): void };
    this.used = new Int32Array(buffer, 0, 2);
    this.view = Buffer.from(buffer);
  }

  /** A new table's buffer. */
  static newBuffer(): SharedArrayBuffer {
    return growableShared(64 << 10, MAX_BYTES);
  }

  /** The index of `text`, stored if it was not; -1 when the table is full. Under the lock. */
  put(text: string): number {
    const known = this.indexOf.get(text);
    if (known !== undefined) return known;
    const bytes = Buffer.byteLength(text, 'utf8');
    const at = Math.max(FIRST, Atomics.load(this.used, 0));
    const end = at + 4 + ((bytes + 3) & ~3);
    if (end > MAX_BYTES) return -1;
    if (end > this.buffer.byteLength) {
      this.buffer.grow(Math.min(MAX_BYTES, Math.max(end, this.buffer.byteLength * 2)));
    }
    if (end > this.view.byteLength) this.view = Buffer.from(this.buffer);
    this.view.writeUInt32LE(bytes, at);
    this.view.write(text, at + 4, bytes, 'utf8');
    Atomics.store(this.used, 0, end);
    this.indexOf.set(text, at);
    this.textOf.set(at, text);
    return at;
  }

  /** The string at `index` (from a row), or undefined for -1 or an index not stored. */
  get(index: number): string | undefined {
    if (index < FIRST) return undefined;
    const known = this.textOf.get(index);
    if (known !== undefined) return known;
    if (index + 4 > Atomics.load(this.used, 0)) return undefined;
    if (index + 4 > this.view.byteLength) this.view = Buffer.from(this.buffer);
    const bytes = this.view.readUInt32LE(index);
    const text = this.view.toString('utf8', index + 4, index + 4 + bytes);
    this.textOf.set(index, text);
    this.indexOf.set(text, index);
    return text;
  }
}
