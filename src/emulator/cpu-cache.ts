/**
 * Cache maintenance on the strict model: CLEAN and INVALIDATE over line-widened ranges.
 *
 * A line is dirty when the CPU's copy (`cache`) differs from what it held when it last
 * agreed with memory (`shadow`). CLEAN writes dirty lines back and only those, so that a
 * needless CLEAN never overwrites what the BPU wrote to lines the CPU did not touch.
 * INVALIDATE is clean-then-invalidate, as on the board: dirty lines are written back first,
 * then every line is refilled from memory.
 *
 * Ranges are handled a span (256 KiB) at a time with memcmp/memcpy (Buffer.compare and
 * Buffer.copy): a span the CPU did not write is skipped after one compare, a span the device
 * did not write is copied whole; only a span with both is cut into 4 KiB chunks, treated the
 * same way, and only a chunk that holds both CPU and device writes is walked line by line.
 * Few native calls per byte is what lets a flush run near memcpy speed.
 */

import { CACHE_LINE, type Region } from './physical-memory.js';

const CHUNK = 4096;
const SPAN = 64 * CHUNK;

/** What a flush did. */
export interface FlushResult {
  /**
   * Bytes copied from the cache to memory. A span or chunk with no device writes is copied
   * whole, its clean lines rewritten with the value memory already held (which changes
   * nothing), so this may exceed the dirty bytes by less than a span per dirty span.
   */
  writtenBack: number;
}

/** Widens `[start, end)` (region offsets) to whole cache lines. */
export function lineRange(start: number, end: number): [number, number] {
  return [start - (start % CACHE_LINE), Math.ceil(end / CACHE_LINE) * CACHE_LINE];
}

/** CLEAN: write the dirty lines of `[start, end)` back to memory; they stay cached. */
export function clean(region: Region, start: number, end: number): FlushResult {
  [start, end] = lineRange(start, end);
  const { cache, shadow, memory } = region;
  let writtenBack = 0;
  for (let s = start; s < end; s += SPAN) {
    const se = Math.min(s + SPAN, end);
    if (cache.compare(shadow, s, se, s, se) === 0) continue;
    if (memory.compare(shadow, s, se, s, se) === 0) {
      cache.copy(memory, s, s, se);
      cache.copy(shadow, s, s, se);
      writtenBack += se - s;
      continue;
    }
    writtenBack += cleanChunks(cache, shadow, memory, s, se);
  }
  return { writtenBack };
}

/** CLEAN of `[start, end)` a chunk at a time, line by line where both sides wrote. */
function cleanChunks(
  cache: Buffer,
  shadow: Buffer,
  memory: Buffer,
  start: number,
  end: number,
): number {
  let writtenBack = 0;
  for (let c = start; c < end; c += CHUNK) {
    const ce = Math.min(c + CHUNK, end);
    if (cache.compare(shadow, c, ce, c, ce) === 0) continue;
    if (memory.compare(shadow, c, ce, c, ce) === 0) {
      // The device did not write here since the last sync, so memory equals shadow and
      // writing clean lines back changes nothing: copy the chunk whole.
      cache.copy(memory, c, c, ce);
      cache.copy(shadow, c, c, ce);
      writtenBack += ce - c;
      continue;
    }
    for (let line = c; line < ce; line += CACHE_LINE) {
      if (!linesEqual(cache, shadow, line)) {
        cache.copy(memory, line, line, line + CACHE_LINE);
        cache.copy(shadow, line, line, line + CACHE_LINE);
        writtenBack += CACHE_LINE;
      }
    }
  }
  return writtenBack;
}

/** INVALIDATE: clean, then refill every line of `[start, end)` from memory. */
export function invalidate(region: Region, start: number, end: number): FlushResult {
  const result = clean(region, start, end);
  [start, end] = lineRange(start, end);
  region.memory.copy(region.cache, start, start, end);
  region.memory.copy(region.shadow, start, start, end);
  return result;
}

/** The byte offsets of the dirty lines in `[start, end)`, for the sanitizer. */
export function dirtyLines(region: Region, start: number, end: number): number[] {
  [start, end] = lineRange(start, end);
  const { cache, shadow } = region;
  const out: number[] = [];
  for (let c = start; c < end; c += CHUNK) {
    const ce = Math.min(c + CHUNK, end);
    if (cache.compare(shadow, c, ce, c, ce) === 0) continue;
    for (let line = c; line < ce; line += CACHE_LINE) {
      if (!linesEqual(cache, shadow, line)) out.push(line);
    }
  }
  return out;
}

/** Compares one 64-byte line of two planes, 8 bytes at a time. */
function linesEqual(a: Buffer, b: Buffer, offset: number): boolean {
  // Offsets are line-aligned and every plane starts its own SharedArrayBuffer, so an
  // Int32 view over the whole buffer is aligned. Views are made once per buffer.
  const va = words(a);
  const vb = words(b);
  const w = (a.byteOffset + offset) >>> 2;
  for (let i = 0; i < CACHE_LINE / 4; i++) {
    if (va[w + i] !== vb[w + i]) return false;
  }
  return true;
}

const wordViews = new WeakMap<ArrayBufferLike, Int32Array>();
function words(b: Buffer): Int32Array {
  let v = wordViews.get(b.buffer);
  if (v === undefined) {
    v = new Int32Array(b.buffer);
    wordViews.set(b.buffer, v);
  }
  return v;
}
