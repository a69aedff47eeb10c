/**
 * Workload: JS heap bytes per live allocation, at 1 million live (quick: 100 thousand).
 * - emulator (the aim): N live `hbSysAllocMem(mem, size)`, a fresh `const mem = {}` each,
 *   sizes uniform in 64 B … 2 KiB (seeded), on a heap of 2.5 KiB per allocation (at most
 *   2 GiB) with 64 B pages (otherwise the
 *   defaults: strict cache model, sanitizer off). Everything the process keeps for them
 *   counts: the machine's records, tables and views, and the mems themselves with what
 *   hbSysAllocMem put in them (phyAddr, virAddr, memSize). Measured as the growth of the JS
 *   heap plus array-buffer memory (process.memoryUsage) after a full GC, divided by N.
 * - caller's floor, for comparison in the same run: N plain objects
 *   `{ phyAddr, virAddr: null, memSize }` with a distinct bigint each, measured the same way:
 *   what a caller's records cost with no emulator behind them.
 * - allocator, for information: a TLSF of the allocator benchmark's shape filled with N
 *   blocks, as Tlsf.metadataBytes() / N and as measured heap growth / N.
 * The full GC needs no flag (see fullGc in measure.ts).
 */

import { Tlsf } from '../src/emulator/tlsf.js';
import { emulator, HB_SYS_SUCCESS, hbSysAllocMem } from '../src/index.js';
import type { hbSysMem } from '../src/mem.js';
import { makeTrace } from './allocator.bench.js';
import { fullGc } from './measure.js';

const MIB = 1024 * 1024;

export interface MemoryResult {
  live: number;
  /** Bytes per live hbSysAllocMem, the whole emulator and the caller's mems. */
  emulatorMeasured: number;
  /** Bytes per plain `{ phyAddr, virAddr, memSize }` object. */
  plainObject: number;
  allocatorMeasured: number;
  allocatorReported: number;
}

/**
 * Heap in use after a full GC. The event loop turns once between two collections, so that
 * what waits for it (finalization callbacks, a reset machine's leftovers) is gone too.
 */
async function used(): Promise<number> {
  fullGc();
  await new Promise((r) => setImmediate(r));
  fullGc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export async function memoryBench(live: number): Promise<MemoryResult> {
  const trace = makeTrace(live, 0, 0x3e3);

  // A heap with room for the live bytes (1 KiB on average), at most the 2 GiB limit: its size
  // changes nothing per allocation, and a small one is quicker to set up.
  const heapSize = Math.min(2 ** 31, Math.ceil((live * 2560) / MIB) * MIB);
  await emulator.reset({ heapSize, pageSize: 64, maxAllocations: live });
  let mems: hbSysMem[] = new Array(live).fill(null);
  const base = await used();
  for (let i = 0; i < live; i++) {
    const mem = {} as hbSysMem;
    if (hbSysAllocMem(mem, trace.setup[i]!) !== HB_SYS_SUCCESS) {
      throw new Error('hbSysAllocMem failed in the metadata benchmark');
    }
    mems[i] = mem;
  }
  const emulatorMeasured = ((await used()) - base) / live;
  // A use after the measurement: a local that is never read again may be collected early.
  if (mems.length !== live) throw new Error('the mems were lost');
  mems = [];
  await emulator.reset({ heapSize: 64 * MIB });

  let plain: { phyAddr: bigint; virAddr: null; memSize: number }[] = new Array(live).fill(null);
  const plainBase = await used();
  for (let i = 0; i < live; i++) {
    plain[i] = { phyAddr: BigInt(0x4000_0000 + i * 64), virAddr: null, memSize: trace.setup[i]! };
  }
  const plainObject = ((await used()) - plainBase) / live;
  if (plain.length !== live) throw new Error('the plain objects were lost');
  plain = [];

  const before = await used();
  const tlsf = new Tlsf(2 ** 25);
  for (let i = 0; i < live; i++) {
    if (tlsf.alloc(Math.ceil(trace.setup[i]! / 64)) < 0) throw new Error('TLSF full');
  }
  const allocatorMeasured = ((await used()) - before) / live;
  const allocatorReported = tlsf.metadataBytes() / live;
  return { live, emulatorMeasured, plainObject, allocatorMeasured, allocatorReported };
}
