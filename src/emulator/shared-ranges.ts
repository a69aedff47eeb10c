/**
 * A table of physical ranges in shared memory, each row tagged with the thread that put it
 * there, a key of that thread's (a job, a task), a few flags and a short text (what to name
 * it in a message). Two of them sit on the board: the ranges of BPU jobs in flight (the
 * sanitizer's in-flight checks) and the ranges live hbDNN tasks hold (free and unregister
 * refuse them), so that each thread sees the other threads' as its own.
 *
 * Callers hold the board's lock for every call (the table has no lock of its own). The rows
 * are few (a job has a range per tensor), so lookups scan them; a scan stops at the highest
 * row in use.
 */

import { growableShared } from './tlsf.js';

const H_END = 0;
const H_LIVE = 1;
const HEADER_BYTES = 64;

const R_THREAD = 0;
const R_KEY = 1;
const R_ID = 2;
const R_PHY = 3;
const R_SIZE = 4;
const R_FLAGS = 5;
const R_TEXT = 6;
const FIELDS = 8;
const TEXT_BYTES = 128;
const ROW_BYTES = FIELDS * 8 + TEXT_BYTES;
const MAX_ROWS = 1 << 16;

/** A new table's buffer. */
export function newRangeTable(): SharedArrayBuffer {
  return growableShared(HEADER_BYTES + 64 * ROW_BYTES, HEADER_BYTES + MAX_ROWS * ROW_BYTES);
}

/** One row as a reader sees it. */
export interface RangeRow {
  readonly thread: number;
  readonly key: number;
  readonly id: number;
  readonly phyAddr: number;
  readonly size: number;
  readonly flags: number;
  readonly text: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SharedRanges {
  private readonly buffer: SharedArrayBuffer & {
    grow(n: number): void;
    readonly maxByteLength: number;
  };
  private readonly header: Int32Array;
  // Length-tracking views: they follow the buffer as any thread grows it.
  private readonly f64: Float64Array;
  private readonly bytes: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer as SharedRanges['buffer'];
    this.header = new Int32Array(buffer, 0, 2);
    this.f64 = new Float64Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  /** Rows in use, of every thread. */
  get live(): number {
    return this.header[H_LIVE]!;
  }

  private at(row: number): number {
    return (HEADER_BYTES + row * ROW_BYTES) >>> 3;
  }

  /**
   * Adds a row per range. Returns false (and adds none) when the table is full: the caller
   * then keeps them to its own thread.
   */
  add(
    thread: number,
    key: number,
    id: number,
    ranges: readonly { readonly phyAddr: number; readonly size: number; readonly flags: number }[],
    text: string,
  ): boolean {
    const rows: number[] = [];
    const end = this.header[H_END]!;
    for (let row = 0; row < end && rows.length < ranges.length; row++) {
      if (this.f64[this.at(row) + R_THREAD] === 0) rows.push(row);
    }
    let next = end;
    while (rows.length < ranges.length) {
      if (next >= MAX_ROWS) return false;
      const need = HEADER_BYTES + (next + 1) * ROW_BYTES;
      if (need > this.buffer.byteLength) {
        this.buffer.grow(
          Math.min(this.buffer.maxByteLength, Math.max(need, this.buffer.byteLength * 2)),
        );
      }
      rows.push(next++);
    }
    this.header[H_END] = next;
    const t = encoder.encode(text).subarray(0, TEXT_BYTES);
    for (const [i, r] of ranges.entries()) {
      const a = this.at(rows[i]!);
      this.f64[a + R_KEY] = key;
      this.f64[a + R_ID] = id;
      this.f64[a + R_PHY] = r.phyAddr;
      this.f64[a + R_SIZE] = r.size;
      this.f64[a + R_FLAGS] = r.flags;
      this.f64[a + R_TEXT] = t.byteLength;
      this.bytes.set(t, a * 8 + FIELDS * 8);
      this.f64[a + R_THREAD] = thread + 1; // 0: a free row (the main thread is 0)
    }
    this.header[H_LIVE]! += ranges.length;
    return true;
  }

  /** Removes the rows of `thread`'s `key`. */
  remove(thread: number, key: number): void {
    this.removeRows((a) => this.f64[a + R_THREAD] === thread + 1 && this.f64[a + R_KEY] === key);
  }

  /** Removes every row of `thread` (it ended: its jobs and tasks are no one's now). */
  removeThread(thread: number): void {
    this.removeRows((a) => this.f64[a + R_THREAD] === thread + 1);
  }

  /** Removes the rows `doomed` says (given a row's start), then trims the end. */
  private removeRows(doomed: (at: number) => boolean): void {
    const end = this.header[H_END]!;
    let removed = 0;
    for (let row = 0; row < end; row++) {
      const a = this.at(row);
      if (this.f64[a + R_THREAD] !== 0 && doomed(a)) {
        this.f64[a + R_THREAD] = 0;
        removed++;
      }
    }
    if (removed === 0) return;
    this.header[H_LIVE]! -= removed;
    let last = end;
    while (last > 0 && this.f64[this.at(last - 1) + R_THREAD] === 0) last--;
    this.header[H_END] = last;
  }

  /** Whether `thread`'s `key` has rows. */
  has(thread: number, key: number): boolean {
    const end = this.header[H_END]!;
    for (let row = 0; row < end; row++) {
      const a = this.at(row);
      if (this.f64[a + R_THREAD] === thread + 1 && this.f64[a + R_KEY] === key) return true;
    }
    return false;
  }

  /**
   * The rows of threads other than `thread` that overlap `[phyAddr, phyAddr + size)`
   * (all of them with `size` undefined), in table order.
   */
  others(thread: number, phyAddr = 0, size?: number): RangeRow[] {
    const out: RangeRow[] = [];
    const end = this.header[H_END]!;
    for (let row = 0; row < end; row++) {
      const a = this.at(row);
      const owner = this.f64[a + R_THREAD]! - 1;
      if (owner === -1 || owner === thread) continue;
      const p = this.f64[a + R_PHY]!;
      const n = this.f64[a + R_SIZE]!;
      if (size !== undefined && !(phyAddr < p + n && p < phyAddr + size)) continue;
      const len = this.f64[a + R_TEXT]!;
      const text = decoder.decode(this.bytes.slice(a * 8 + FIELDS * 8, a * 8 + FIELDS * 8 + len));
      out.push({
        thread: owner,
        key: this.f64[a + R_KEY]!,
        id: this.f64[a + R_ID]!,
        phyAddr: p,
        size: n,
        flags: this.f64[a + R_FLAGS]!,
        text,
      });
    }
    return out;
  }
}
