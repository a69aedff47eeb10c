/**
 * What the planes say about a line, for the sanitizer: dirty (the CPU wrote it and did not
 * CLEAN it) or behind the cache (memory changed and the CPU's copy did not). These are read
 * from the planes themselves, not remembered: the sanitizer's own marks of each line (stale,
 * written) are DeviceLines, in sanitizer.ts.
 */

import { CACHE_LINE, type Region } from '../physical-memory.js';
import { forRuns, lineRange, linesEqual } from './maintenance.js';

/** The byte offsets of the dirty lines in `[start, end)`, for the sanitizer. */
export function dirtyLines(region: Region, start: number, end: number): number[] {
  [start, end] = lineRange(start, end);
  const { cache } = region;
  const out: number[] = [];
  forRuns(region, start, end, (s, e, inMemory) => {
    const ref = inMemory ? region.memory : region.shadow;
    if (cache.compare(ref, s, e, s, e) === 0) return;
    for (let line = s; line < e; line += CACHE_LINE) {
      if (!linesEqual(cache, ref, line)) out.push(line);
    }
  });
  return out;
}

/**
 * Lines of `[offset, offset + size)` of `region` whose memory differs from the CPU's copy,
 * where the CPU did not write the copy (not dirty): memory changed behind the cache.
 * Asked of memory that an uncached mapping writes (an uncached allocation's registrations),
 * whose reference is always the shadow plane: flushes keep it in memory only for cached
 * allocations and VIO buffers ({@link referenceMayBeMemory}).
 */
export function linesBehindCache(region: Region, offset: number, size: number): number[] {
  const out: number[] = [];
  const end = offset + size;
  for (let line = offset - (offset % CACHE_LINE); line < end; line += CACHE_LINE) {
    const e = line + CACHE_LINE;
    if (
      region.memory.compare(region.cache, line, e, line, e) !== 0 &&
      region.cache.compare(region.shadow, line, e, line, e) === 0
    ) {
      out.push(line);
    }
  }
  return out;
}
