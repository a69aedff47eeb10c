/**
 * Workload: the C-style API on top of the allocator. hbSysAllocMem of 4 KiB and of 1 MiB
 * followed by hbSysFreeMem of the same hbSysMem, on an emulator with a 64 MiB heap and
 * 4 KiB pages (the defaults otherwise: strict cache model, sanitizer off). New memory is
 * zero-filled, so the 1 MiB pair includes clearing 1 MiB. Baseline in the same run:
 * `new ArrayBuffer(size)` (also zero-filled), dropped at once.
 * Each tinybench sample runs 256 pairs (4 KiB) or 16 (1 MiB); figures are per pair.
 */

import { emulator } from '../src/emulator/index.js';
import { hbSysAllocMem, hbSysFreeMem } from '../src/hbsys.js';
import type { hbSysMem } from '../src/mem.js';
import { type OpStats, tiny } from './measure.js';

export interface ApiResult {
  size: number;
  hbsys: OpStats;
  arrayBuffer: OpStats;
}

// biome-ignore lint/correctness/noUnusedVariables: a sink keeps the allocation from being optimised away
let sink: ArrayBuffer | undefined;

export async function apiBench(timeMs: number): Promise<ApiResult[]> {
  await emulator.reset({ heapSize: 64 * 1024 * 1024, pageSize: 4096 });
  const out: ApiResult[] = [];
  for (const size of [4096, 1024 * 1024]) {
    const reps = size <= 4096 ? 256 : 16;
    const mem = { phyAddr: 0n, virAddr: null, memSize: 0 } as hbSysMem;
    const hbsys = tiny(
      `hbSysAllocMem+hbSysFreeMem ${size}`,
      () => {
        for (let i = 0; i < reps; i++) {
          if (hbSysAllocMem(mem, size) !== 0 || hbSysFreeMem(mem) !== 0) {
            throw new Error('alloc/free failed');
          }
        }
      },
      reps,
      { timeMs },
    );
    const arrayBuffer = tiny(
      `new ArrayBuffer ${size}`,
      () => {
        for (let i = 0; i < reps; i++) sink = new ArrayBuffer(size);
      },
      reps,
      { timeMs },
    );
    sink = undefined;
    out.push({ size, hbsys, arrayBuffer });
  }
  return out;
}
