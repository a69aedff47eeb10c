/**
 * Workload: bytes of metadata per live allocation, at 1 million live (quick: 100 thousand).
 * - allocator: a TLSF of the allocator benchmark's shape (units of 64 B, capacity 2^25
 *   units = 2 GiB, sizes 64 B … 2 KiB) filled with N blocks; measured as the growth of the
 *   process's JS heap plus array-buffer memory (process.memoryUsage, after a GC when node
 *   runs with --expose-gc) divided by N, and as Tlsf.metadataBytes() / N.
 * - emulator: N live hbSysAllocMem(1 KiB) on a 2 GiB heap with 1 KiB pages (coherent cache
 *   model, so no cache planes are touched), everything the machine keeps per allocation
 *   (its owner record, mapping view, lookup tables, the caller's hbSysMem object); the
 *   planes are made before the first measurement, so they are not counted. For
 *   information: the aim is about the allocator.
 */

import { emulator } from '../src/emulator/index.js';
import { Tlsf } from '../src/emulator/tlsf.js';
import { hbSysAllocMem } from '../src/hbsys.js';
import type { hbSysMem } from '../src/mem.js';
import { makeTrace } from './allocator.bench.js';

export interface MemoryResult {
  live: number;
  gcExposed: boolean;
  allocatorMeasured: number;
  allocatorReported: number;
  emulatorMeasured: number;
}

function used(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export async function memoryBench(live: number): Promise<MemoryResult> {
  const trace = makeTrace(live, 0, 0x3e3);
  const before = used();
  const tlsf = new Tlsf(2 ** 25);
  for (let i = 0; i < live; i++) {
    if (tlsf.alloc(Math.ceil(trace.setup[i]! / 64)) < 0) throw new Error('TLSF full');
  }
  const allocatorMeasured = (used() - before) / live;
  const allocatorReported = tlsf.metadataBytes() / live;

  await emulator.reset({
    heapSize: 2 ** 31,
    pageSize: 1024,
    maxAllocations: live,
    cacheModel: 'coherent',
  });
  const mems: hbSysMem[] = new Array(live);
  const base = used();
  for (let i = 0; i < live; i++) {
    const mem = { phyAddr: 0n, virAddr: null, memSize: 0 } as hbSysMem;
    if (hbSysAllocMem(mem, 1024) !== 0) throw new Error('hbSysAllocMem failed');
    mems[i] = mem;
  }
  const emulatorMeasured = (used() - base) / live;
  mems.length = 0;
  await emulator.reset({ heapSize: 64 * 1024 * 1024 });
  return {
    live,
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    allocatorMeasured,
    allocatorReported,
    emulatorMeasured,
  };
}
