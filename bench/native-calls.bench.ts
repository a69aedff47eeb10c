/**
 * Per-call overhead of the eight functions on the native backend, through koffi, against
 * the C stand-in for libdnn (test/fixtures). Each is measured twice: through the hbsys API
 * (TypeScript validation + koffi + C) and as the raw koffi call with the same native struct
 * (koffi + C). The baseline, measured in the same run, is an empty koffi call (no
 * arguments, C returns a counter). Alloc/free and register/unregister are measured as
 * pairs; the stand-in's memfd/mmap system calls dominate those, not the binding.
 *
 * Timers cannot resolve a 50 ns call, so each sample runs a batch of calls and the
 * median of the samples is divided by the batch. Prints a table, then JSON.
 *
 *   npm run bench:native
 */

import { Bench } from 'tinybench';
import {
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
  useBackend,
} from '../src/index.js';
import { loadLibdnn, MEM_SIZE, PHY_ADDR } from '../src/native/libdnn.js';
import { standinExtras, standinPath } from '../test/native/standin.js';

const path = standinPath();
process.env.HBSYS_LIBDNN = path;
useBackend('native');
const extras = standinExtras(path);
const raw = loadLibdnn([path]);

const empty = (): hbSysMem => ({ phyAddr: 0n, virAddr: null, memSize: 0 });
const check = (code: number) => {
  if (code !== 0) throw new Error(`call failed with ${code}`);
};

// What the calls work on: one cached allocation through the API, one through raw koffi.
const mem = empty();
check(hbSysAllocCachedMem(mem, 4096));
const rawMem = raw.allocStruct();
check(raw.hbSysAllocCachedMem(rawMem.pointer, 4096));
/** Structs for the raw alloc/free and register/unregister pairs. */
const rawMem2 = raw.allocStruct();
const rawReg = raw.allocStruct();
const host = new Uint8Array(64).fill(7);
const vio = extras.vioAlloc(4096);

interface Case {
  name: string;
  /** Calls per sample. */
  batch: number;
  api?: () => void;
  raw: () => void;
}

const cases: Case[] = [
  { name: 'baseline: empty koffi call', batch: 1000, raw: () => void extras.callCount() },
  {
    name: 'hbSysFlushMem (CLEAN, 4 KiB)',
    batch: 1000,
    api: () => check(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN)),
    raw: () => check(raw.hbSysFlushMem(rawMem.pointer, HB_SYS_MEM_CACHE_CLEAN)),
  },
  {
    name: 'hbSysFlushMem (INVALIDATE, 4 KiB)',
    batch: 1000,
    api: () => check(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_INVALIDATE)),
    raw: () => check(raw.hbSysFlushMem(rawMem.pointer, HB_SYS_MEM_CACHE_INVALIDATE)),
  },
  {
    name: 'hbSysWriteMem (64 B)',
    batch: 1000,
    api: () => check(hbSysWriteMem(mem, host, 64)),
    raw: () => check(raw.hbSysWriteMem(rawMem.pointer, host, 64)),
  },
  {
    name: 'hbSysReadMem (64 B)',
    batch: 1000,
    api: () => check(hbSysReadMem(host, mem, 64)),
    raw: () => check(raw.hbSysReadMem(host, rawMem.pointer, 64)),
  },
  {
    name: 'hbSysAllocMem + hbSysFreeMem (4 KiB)',
    batch: 50,
    api: () => {
      const m = empty();
      check(hbSysAllocMem(m, 4096));
      check(hbSysFreeMem(m));
    },
    raw: () => {
      check(raw.hbSysAllocMem(rawMem2.pointer, 4096));
      check(raw.hbSysFreeMem(rawMem2.pointer));
    },
  },
  {
    name: 'hbSysAllocCachedMem + hbSysFreeMem (4 KiB)',
    batch: 50,
    api: () => {
      const m = empty();
      check(hbSysAllocCachedMem(m, 4096));
      check(hbSysFreeMem(m));
    },
    raw: () => {
      check(raw.hbSysAllocCachedMem(rawMem2.pointer, 4096));
      check(raw.hbSysFreeMem(rawMem2.pointer));
    },
  },
  {
    name: 'hbSysRegisterMem + hbSysUnregisterMem (4 KiB)',
    batch: 50,
    api: () => {
      const m: hbSysMem = { phyAddr: vio, virAddr: null, memSize: 4096 };
      check(hbSysRegisterMem(m));
      check(hbSysUnregisterMem(m));
    },
    raw: () => {
      rawReg.u64[PHY_ADDR] = vio;
      rawReg.u32[MEM_SIZE] = 4096;
      check(raw.hbSysRegisterMem(rawReg.pointer));
      check(raw.hbSysUnregisterMem(rawReg.pointer));
    },
  },
];
function batched(fn: () => void, n: number): () => void {
  return () => {
    for (let i = 0; i < n; i++) fn();
  };
}

const bench = new Bench({ time: 300, warmupTime: 100 });
for (const c of cases) {
  if (c.api) bench.add(`api ${c.name}`, batched(c.api, c.batch));
  bench.add(`raw ${c.name}`, batched(c.raw, c.batch));
}
await bench.run();

/** Median nanoseconds per call of the task named `name`. */
function medianNs(name: string, batch: number): number | undefined {
  const task = bench.getTask(name);
  const result = task?.result as { latency?: { p50?: number } } | undefined;
  const p50 = result?.latency?.p50;
  return p50 === undefined ? undefined : (p50 * 1e6) / batch;
}

const baseline = medianNs(`raw ${cases[0]!.name}`, cases[0]!.batch)!;
const rows = cases.map((c) => {
  const api = c.api ? medianNs(`api ${c.name}`, c.batch) : undefined;
  const rawNs = medianNs(`raw ${c.name}`, c.batch)!;
  return {
    function: c.name,
    apiMedianNs: api === undefined ? null : round(api),
    rawKoffiMedianNs: round(rawNs),
    validationNs: api === undefined ? null : round(api - rawNs),
    apiVsBaseline: api === undefined ? null : round(api / baseline, 2),
  };
});

console.table(rows);
console.log(
  JSON.stringify(
    {
      benchmark: 'native-calls',
      node: process.version,
      arch: process.arch,
      library: path,
      unit: 'median ns per call',
      baselineNs: round(baseline),
      rows,
    },
    null,
    2,
  ),
);

check(hbSysFreeMem(mem));
check(raw.hbSysFreeMem(rawMem.pointer));
extras.vioFree(vio);

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
