/**
 * Workload: cache maintenance on cached memory (strict model), 4 KiB … 256 MiB (quick:
 * 4 KiB, 1 MiB, 16 MiB). For each size, R cached allocations (R = 1 MiB / size, at least 1):
 * - CLEAN fully dirty: before each sample every line of the R buffers is written by the CPU
 *   (a new pattern each time, outside the timing); the sample CLEANs the R buffers;
 * - CLEAN untouched: CLEAN of the same buffers with nothing written since the last CLEAN;
 * - INVALIDATE: of the same buffers, nothing dirty (every line is refilled from memory);
 * - copy baseline: Uint8Array.prototype.set of `size` bytes from a host array into the
 *   mapping of one of the buffers (the same memory).
 * Figures: GB/s (10^9 bytes/s) per buffer size, and the ratio to the copy baseline.
 */

import { emulator } from '../src/emulator/index.js';
import { hbSysAllocCachedMem, hbSysFlushMem, hbSysFreeMem } from '../src/hbsys.js';
import { HB_SYS_MEM_CACHE_CLEAN, HB_SYS_MEM_CACHE_INVALIDATE, type hbSysMem } from '../src/mem.js';
import { MIB } from './copies.bench.js';
import { gbps, type OpStats, tiny } from './measure.js';

export interface CacheRow {
  size: number;
  copy: number;
  cleanDirty: number;
  cleanUntouched: number;
  invalidate: number;
  raw: Record<string, OpStats>;
}

export async function cacheBench(
  sizes: number[],
  timeMs: number,
  progress: (s: string) => void,
): Promise<CacheRow[]> {
  const largest = Math.max(...sizes);
  await emulator.reset({
    heapSize: Math.max(64 * MIB, 2 * largest + 16 * MIB),
    pageSize: 4096,
    maxAllocations: 4096,
  });
  const rows: CacheRow[] = [];
  for (const size of sizes) {
    progress(`cache maintenance of ${size} bytes`);
    const reps = Math.max(1, Math.floor(MIB / size));
    const mems: hbSysMem[] = [];
    for (let i = 0; i < reps; i++) {
      const mem = {} as hbSysMem;
      if (hbSysAllocCachedMem(mem, size) !== 0)
        throw new Error(`hbSysAllocCachedMem(${size}) failed`);
      mems.push(mem);
    }
    const patterns = [new Uint8Array(size).fill(0x5a), new Uint8Array(size).fill(0xa5)];
    let turn = 0;
    const dirtyAll = () => {
      const p = patterns[turn++ & 1]!;
      for (const m of mems) m.virAddr!.set(p);
    };
    const flushAll = (flag: 1 | 2) => () => {
      for (const m of mems) if (hbSysFlushMem(m, flag) !== 0) throw new Error('flush failed');
    };
    const o = { timeMs, minIterations: size >= 64 * MIB ? 5 : 10 };
    const host = patterns[0]!;
    const view = mems[0]!.virAddr!;
    const raw: Record<string, OpStats> = {
      copy: tiny(
        'copy',
        () => {
          for (let i = 0; i < reps; i++) view.set(host);
        },
        reps,
        o,
      ),
      cleanDirty: tiny('CLEAN dirty', flushAll(HB_SYS_MEM_CACHE_CLEAN), reps, {
        ...o,
        beforeEach: dirtyAll,
      }),
      cleanUntouched: tiny('CLEAN untouched', flushAll(HB_SYS_MEM_CACHE_CLEAN), reps, o),
      invalidate: tiny('INVALIDATE', flushAll(HB_SYS_MEM_CACHE_INVALIDATE), reps, o),
    };
    for (const m of mems) hbSysFreeMem(m);
    const g = (k: string) => gbps(size, raw[k]!.medianNs);
    rows.push({
      size,
      copy: g('copy'),
      cleanDirty: g('cleanDirty'),
      cleanUntouched: g('cleanUntouched'),
      invalidate: g('invalidate'),
      raw,
    });
  }
  return rows;
}
