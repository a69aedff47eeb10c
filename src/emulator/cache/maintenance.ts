/**
 * Cache maintenance on the strict model: CLEAN and INVALIDATE over line-widened ranges.
 *
 * A line is dirty when the CPU's copy (`cache`) differs from its reference: what the line
 * held when the CPU copy last agreed with memory. CLEAN writes dirty lines back and only
 * those, so that a needless CLEAN never overwrites what the BPU wrote to lines the CPU did
 * not touch. INVALIDATE is clean-then-invalidate, as on the board: dirty lines are written
 * back first, then every line is refilled from memory.
 *
 * The reference lives in one of two places, per 4 KiB chunk (`Region.refInMemory`):
 * - the shadow plane, a copy of the lines as they were at the last sync; or
 * - memory itself, when nothing but CLEAN has written that memory since the last sync.
 *   Then CLEAN is one compare and one copy (no shadow to keep), and INVALIDATE one copy.
 *   Anything else about to write memory (a BPU job, a camera) first puts the reference back
 *   in the shadow plane ({@link beforeDeviceWrite}). The machine allows the memory
 *   reference only where it sees every writer: cached allocations and VIO buffers, never
 *   uncached allocations (the CPU writes those directly), never while a BPU job is writing
 *   (planes.ts, referenceMayBeMemory).
 *
 * Runs of chunks are handled with memcmp/memcpy (Buffer.compare and Buffer.copy); only a
 * chunk that holds both CPU and device writes is walked line by line.
 */

import { CACHE_LINE, REF_CHUNK, type Region } from '../physical-memory.js';

const CHUNK = REF_CHUNK;

/** What a flush did. */
export interface FlushResult {
  /**
   * Bytes copied from the cache to memory. A run with no device writes is copied whole,
   * its clean lines rewritten with the value memory already held (which changes nothing),
   * so this may exceed the dirty bytes.
   */
  writtenBack: number;
}

/** Widens `[start, end)` (region offsets) to whole cache lines. */
export function lineRange(start: number, end: number): [number, number] {
  return [start - (start % CACHE_LINE), Math.ceil(end / CACHE_LINE) * CACHE_LINE];
}

/**
 * Calls `fn` for each maximal run of `[start, end)` whose chunks keep their reference in
 * the same place, with `inMemory` saying where.
 */
export function forRuns(
  region: Region,
  start: number,
  end: number,
  fn: (s: number, e: number, inMemory: boolean) => void,
): void {
  const flags = region.refInMemory;
  // One chunk (a small flush): one run, with no view made to search the flags.
  const firstChunk = Math.floor(start / CHUNK);
  if (end <= (firstChunk + 1) * CHUNK) {
    if (end > start) fn(start, end, flags[firstChunk] === 1);
    return;
  }
  let s = start;
  while (s < end) {
    const chunk = Math.floor(s / CHUNK);
    const inMemory = flags[chunk] === 1;
    // The first chunk after `chunk` whose flag differs ends the run.
    const lastChunk = Math.ceil(end / CHUNK);
    let next = flags.subarray(chunk + 1, lastChunk).indexOf(inMemory ? 0 : 1);
    next = next === -1 ? lastChunk : chunk + 1 + next;
    const e = Math.min(end, next * CHUNK);
    fn(s, e, inMemory);
    s = e;
  }
}

/** Marks the chunks wholly inside `[start, end)` as keeping their reference in memory. */
function referenceInMemory(region: Region, start: number, end: number): void {
  const first = Math.ceil(start / CHUNK);
  const last = Math.floor(end / CHUNK);
  if (last > first) region.refInMemory.fill(1, first, last);
}

/**
 * CLEAN: write the dirty lines of `[start, end)` back to memory; they stay cached.
 * `trusted`: the machine sees every writer of this memory (see the module comment).
 */
export function clean(region: Region, start: number, end: number, trusted = false): FlushResult {
  [start, end] = lineRange(start, end);
  const { cache, shadow, memory } = region;
  let writtenBack = 0;
  forRuns(region, start, end, (s, e, inMemory) => {
    if (inMemory) {
      // Clean lines equal memory here, so copying the run writes back exactly the dirty ones.
      if (cache.compare(memory, s, e, s, e) === 0) return;
      cache.copy(memory, s, s, e);
      writtenBack += e - s;
      return;
    }
    if (cache.compare(shadow, s, e, s, e) === 0) return;
    if (memory.compare(shadow, s, e, s, e) === 0) {
      // No device wrote here since the last sync, so memory equals shadow and writing the
      // clean lines back changes nothing: copy the run whole.
      cache.copy(memory, s, s, e);
      writtenBack += e - s;
      if (trusted) {
        referenceInMemory(region, s, e);
        shadowPartialChunks(region, cache, s, e);
      } else {
        cache.copy(shadow, s, s, e);
      }
      return;
    }
    writtenBack += cleanChunks(cache, shadow, memory, s, e);
  });
  return { writtenBack };
}

/**
 * Copies `from` into the shadow plane over the parts of `[s, e)` that are not whole chunks
 * (at most its head and its tail): whole chunks keep their reference in memory instead.
 */
function shadowPartialChunks(region: Region, from: Buffer, s: number, e: number): void {
  const headEnd = Math.min(e, Math.ceil(s / CHUNK) * CHUNK);
  const tailStart = Math.max(headEnd, Math.floor(e / CHUNK) * CHUNK);
  if (headEnd > s) from.copy(region.shadow, s, s, headEnd);
  if (e > tailStart) from.copy(region.shadow, tailStart, tailStart, e);
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
  for (let c = start; c < end; c = Math.min(end, (Math.floor(c / CHUNK) + 1) * CHUNK)) {
    const ce = Math.min((Math.floor(c / CHUNK) + 1) * CHUNK, end);
    if (cache.compare(shadow, c, ce, c, ce) === 0) continue;
    if (memory.compare(shadow, c, ce, c, ce) === 0) {
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
export function invalidate(
  region: Region,
  start: number,
  end: number,
  trusted = false,
): FlushResult {
  const result = clean(region, start, end, trusted);
  [start, end] = lineRange(start, end);
  region.memory.copy(region.cache, start, start, end);
  // The reference becomes memory again: where it is kept in memory nothing more is needed;
  // elsewhere the shadow takes memory's lines, unless the chunk can keep it in memory now.
  forRuns(region, start, end, (s, e, inMemory) => {
    if (inMemory) return;
    if (trusted) {
      referenceInMemory(region, s, e);
      shadowPartialChunks(region, region.memory, s, e);
    } else {
      region.memory.copy(region.shadow, s, s, e);
    }
  });
  return result;
}

/**
 * Something other than CLEAN (a BPU job, a camera) is about to write `[start, end)` of
 * memory: chunks that keep their reference in memory get it back in the shadow plane first.
 * Also called before memory changes owner.
 */
export function beforeDeviceWrite(region: Region, start: number, end: number): void {
  const flags = region.refInMemory;
  const first = Math.floor(start / CHUNK);
  const last = Math.ceil(end / CHUNK);
  const within = flags.subarray(first, last);
  for (let i = within.indexOf(1); i !== -1; i = within.indexOf(1, i + 1)) {
    const c = (first + i) * CHUNK;
    region.memory.copy(region.shadow, c, c, Math.min(c + CHUNK, region.size));
    flags[first + i] = 0;
  }
}

/**
 * The CPU stored to every line of `[start, end)`: each becomes dirty even where the bytes
 * it stored equal what the line held, as a store dirties a line on the board. The line's
 * reference (moved to the shadow plane first) is made to differ from the CPU's copy, so
 * CLEAN writes the line back, and INVALIDATE writes it back over whatever a device wrote.
 */
export function markDirty(region: Region, start: number, end: number): void {
  [start, end] = lineRange(start, end);
  beforeDeviceWrite(region, start, end);
  const { cache, shadow } = region;
  for (let line = start; line < end; line += CACHE_LINE) {
    if (linesEqual(cache, shadow, line)) shadow[line] = ~cache[line]! & 0xff;
  }
}

/** Compares one 64-byte line of two planes, 4 bytes at a time. */
export function linesEqual(a: Buffer, b: Buffer, offset: number): boolean {
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

/** Whether `[offset, offset + length)` is made of whole chunks (REF_CHUNK). */
export function wholeChunks(offset: number, length: number): boolean {
  return (offset | length) % REF_CHUNK === 0;
}

/**
 * Zeroes a fresh cached block of whole chunks: memory and the CPU's copy are zeroed, and
 * their reference is memory itself, so the shadow plane is not written (a third of the
 * zeroing). What the chunks held before is all overwritten, so nothing is moved to the
 * shadow first. Only for chunks whose every writer the machine sees: no sanitizer marks
 * to keep, no job in flight over them.
 */
export function zeroWholeChunks(region: Region, offset: number, length: number): void {
  region.zero(offset, length, 'memory');
  region.zero(offset, length, 'cache');
  region.refInMemory.fill(1, offset / REF_CHUNK, (offset + length) / REF_CHUNK);
}

/**
 * Whether a chunk of `[offset, offset + length)` may keep its CPU copy's reference in
 * memory, which beforeDeviceWrite then moves: looked at here for a small block, where the
 * flags are fewer than beforeDeviceWrite's setup costs.
 */
export function mayKeepReference(region: Region, offset: number, length: number): boolean {
  const first = Math.floor(offset / REF_CHUNK);
  const last = Math.ceil((offset + length) / REF_CHUNK);
  if (last - first > 4) return true;
  const flags = region.refInMemory;
  for (let c = first; c < last; c++) if (flags[c] !== 0) return true;
  return false;
}
