/**
 * The CPU cache model: what a cached mapping shows, and what CLEAN and INVALIDATE do.
 *
 * On the board the CPU reaches cached memory through its data cache, and the BPU reaches
 * memory directly: neither sees the other's writes until the program syncs them with
 * hbSysFlushMem. A program that forgets a sync works on a coherent machine and fails on
 * the board, so the emulator keeps the two views apart, per 64-byte line.
 *
 * The planes (three per region of physical memory, physical-memory.ts):
 * - `memory`: what the BPU, a camera and uncached mappings see;
 * - `cache`: the CPU's copy, what cached mappings see (a registration is always cached). It
 *   is kept per physical address, so two cached mappings of the same memory agree, as a
 *   physically indexed cache does;
 * - `shadow`: each line as it was when the CPU's copy last agreed with memory, its
 *   reference. A line whose copy differs from its reference is dirty: the CPU wrote it,
 *   even straight into a Uint8Array, which no call reports. For whole 4 KiB chunks the
 *   reference may be memory itself instead, which saves a copy per flush (maintenance.ts
 *   says how, planes.ts when).
 *
 * The syncs (maintenance.ts):
 * - CLEAN writes the dirty lines back to memory, and only those, so that a needless CLEAN
 *   never overwrites what the BPU wrote to lines the CPU did not touch;
 * - INVALIDATE is clean-then-invalidate, as on the board: the dirty lines are written back
 *   (over whatever the BPU wrote there), then every line is refilled from memory.
 * - A device write (a BPU job, a camera) changes memory only: the CPU sees it after
 *   INVALIDATE.
 * No line is ever evicted on its own, as a real cache may do at any time: the model is
 * deterministic, and a missing sync fails every run, not one run in a thousand.
 *
 * The models (`cacheModel`):
 * - `strict` (the default): the three planes, as above;
 * - `coherent`: `cache` and `shadow` are `memory` itself, so cached memory behaves as
 *   uncached and flushes do nothing, as in the vendor's x86 simulator. The sanitizer's
 *   cache checks need the strict model.
 *
 * The files: maintenance.ts (CLEAN, INVALIDATE, a device write, a CPU store), line-state.ts
 * (which lines are dirty, which changed behind the cache, for the sanitizer), planes.ts
 * (which plane a mapping shows, what its flush may assume). The machine calls them from
 * hbSysFlushMem, before a device writes and when memory changes owner; the sanitizer
 * (hazards.ts) reads the line state, and marks the lines a CPU store dirties.
 */

export { dirtyLines, linesBehindCache } from './line-state.js';
export {
  beforeDeviceWrite,
  clean,
  type FlushResult,
  invalidate,
  lineRange,
  markDirty,
  mayKeepReference,
  wholeChunks,
  zeroWholeChunks,
} from './maintenance.js';
export { referenceMayBeMemory, throughCache } from './planes.js';
