/**
 * Workload: copies between host memory and BPU memory, 4 KiB … 256 MiB (quick: 4 KiB,
 * 1 MiB, 16 MiB), on an emulator whose heap holds the largest buffer (strict cache model).
 * For each size, on one uncached allocation and a host Uint8Array of that size:
 * - baseline write: `mapping.set(host)`, Uint8Array.prototype.set into the same memory;
 * - baseline read: `host.set(mapping)`;
 * - hbSysWriteMem(mem, host, size) and hbSysReadMem(host, mem, size);
 * - the idiomatic buffer's write(host) and read(host), on a buffer of the same size.
 * Small sizes repeat inside a sample so each sample moves at least 1 MiB.
 */

import { allocate } from '../src/buffer.js';
import { emulator } from '../src/emulator/index.js';
import { hbSysAllocMem, hbSysFreeMem, hbSysReadMem, hbSysWriteMem } from '../src/hbsys.js';
import type { hbSysMem } from '../src/mem.js';
import { gbps, type OpStats, tiny } from './measure.js';

export const MIB = 1024 * 1024;

export interface CopyRow {
  size: number;
  /** GB/s of each way of copying. */
  setWrite: number;
  setRead: number;
  hbSysWriteMem: number;
  hbSysReadMem: number;
  bufferWrite: number;
  bufferRead: number;
  raw: Record<string, OpStats>;
}

export function copySizes(quick: boolean): number[] {
  return quick ? [4096, MIB, 16 * MIB] : [4096, 64 * 1024, MIB, 16 * MIB, 256 * MIB];
}

export async function copiesBench(
  sizes: number[],
  timeMs: number,
  progress: (s: string) => void,
): Promise<CopyRow[]> {
  const largest = Math.max(...sizes);
  await emulator.reset({ heapSize: Math.max(64 * MIB, 2 * largest + 16 * MIB), pageSize: 4096 });
  const rows: CopyRow[] = [];
  for (const size of sizes) {
    progress(`copies of ${size} bytes`);
    const reps = Math.max(1, Math.floor(MIB / size));
    const mem = {} as hbSysMem;
    if (hbSysAllocMem(mem, size) !== 0) throw new Error(`hbSysAllocMem(${size}) failed`);
    const view = mem.virAddr!;
    const host = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) host[i] = i >>> 12;
    const buffer = allocate(size);
    const o = { timeMs, minIterations: size >= 64 * MIB ? 5 : 10 };
    const raw: Record<string, OpStats> = {
      setWrite: tiny(
        'set write',
        () => {
          for (let i = 0; i < reps; i++) view.set(host);
        },
        reps,
        o,
      ),
      hbSysWriteMem: tiny(
        'hbSysWriteMem',
        () => {
          for (let i = 0; i < reps; i++) hbSysWriteMem(mem, host, size);
        },
        reps,
        o,
      ),
      bufferWrite: tiny(
        'buffer.write',
        () => {
          for (let i = 0; i < reps; i++) buffer.write(host);
        },
        reps,
        o,
      ),
      setRead: tiny(
        'set read',
        () => {
          for (let i = 0; i < reps; i++) host.set(view);
        },
        reps,
        o,
      ),
      hbSysReadMem: tiny(
        'hbSysReadMem',
        () => {
          for (let i = 0; i < reps; i++) hbSysReadMem(host, mem, size);
        },
        reps,
        o,
      ),
      bufferRead: tiny(
        'buffer.read',
        () => {
          for (let i = 0; i < reps; i++) buffer.read(host);
        },
        reps,
        o,
      ),
    };
    buffer.free();
    hbSysFreeMem(mem);
    const g = (k: string) => gbps(size, raw[k]!.medianNs);
    rows.push({
      size,
      setWrite: g('setWrite'),
      setRead: g('setRead'),
      hbSysWriteMem: g('hbSysWriteMem'),
      hbSysReadMem: g('hbSysReadMem'),
      bufferWrite: g('bufferWrite'),
      bufferRead: g('bufferRead'),
      raw,
    });
  }
  return rows;
}
