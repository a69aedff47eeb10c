/**
 * Per-call overhead of the eight functions on the native backend, through koffi, against
 * the C stand-in for libdnn (test/fixtures). Each is measured twice: through the hbsys API
 * (TypeScript validation + koffi + C) and as the raw koffi call with the same native struct
 * (koffi + C). The baseline, measured in the same run, is an empty koffi call (no
 * arguments, C returns a counter). Alloc/free and register/unregister are measured as
 * pairs; the stand-in's memfd/mmap system calls dominate those, not the binding.
 *
 * The model API is measured the same way on the stand-in's trivial model (16 bytes in,
 * 16 out, no delay): through the native DnnBackend (handle lookups, tensors checked against
 * the model and against live hbSys memory, the tensor array laid out in native memory, the
 * task's bookkeeping) and as the raw koffi calls on a tensor array laid out once. A task of
 * the stand-in runs on a thread of its own, so infer + wait + release includes a thread
 * start and join in C, in both columns.
 *
 * Timers cannot resolve a 50 ns call, so each sample runs a batch of calls and the
 * median of the samples is divided by the batch. Prints a table, then JSON.
 *
 *   npm run bench:native
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import type { InferCtrlSnapshot, TensorSnapshot } from '../src/dnn/backend.js';
import type { hbDNNTaskHandle_t, hbDNNTensorProperties } from '../src/dnn/types.js';
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
import type { NativeBackend } from '../src/native/backend.js';
import { LAYOUTS } from '../src/native/dnn-layout.js';
import { marshalInfer } from '../src/native/dnn-marshal.js';
import { bindDnn, loadLibdnn, MEM_SIZE, PHY_ADDR } from '../src/native/libdnn.js';
import { snapshotMem } from '../src/snapshot.js';
import { standinExtras, standinPath } from '../test/native/standin.js';

const path = standinPath();
process.env.HBSYS_LIBDNN = path;
const native = useBackend('native') as NativeBackend;
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

// The model API: one trivial model, loaded through hbsys and, apart, through raw koffi.
const modelFile = join(mkdtempSync(join(tmpdir(), 'hbsys-bench-')), 'trivial.bin');
writeFileSync(
  modelFile,
  'hbsys-standin-model 1\nmodel trivial\n' +
    'input  x type=U8 layout=NHWC valid=1x1x1x16\n' +
    'output y type=U8 layout=NHWC valid=1x1x1x16 k=1 b=1\n',
);
const dnn = native.dnn();
const value = <T>(r: { code: number; value?: T }): T => {
  check(r.code);
  return r.value as T;
};
const packed = value(dnn.initializeFromFiles([modelFile]));
const model = value(dnn.getModelHandle(packed, 'trivial'));
const inProps = value<hbDNNTensorProperties>(dnn.getInputTensorProperties(model, 0));
const outProps = value<hbDNNTensorProperties>(dnn.getOutputTensorProperties(model, 0));
const inMem = empty();
const outMem = empty();
check(hbSysAllocCachedMem(inMem, 16));
check(hbSysAllocCachedMem(outMem, 16));
/** As the C-style front hands tensors over: each hbSysMem read once, properties copied. */
const tensor = (mem: hbSysMem, properties: hbDNNTensorProperties): TensorSnapshot => {
  const snap = snapshotMem(mem);
  if ('error' in snap) throw new Error(snap.error);
  return { sysMem: [snap], properties, source: { sysMem: [mem], properties } };
};
const ctrl: InferCtrlSnapshot = {
  bpuCoreId: 0,
  dspCoreId: 0,
  priority: 0,
  more: false,
  customId: 0,
};

const rawDnn = bindDnn(raw);
const cell = rawDnn.allocBlock(16);
const cellView = cell.bytes;
check(rawDnn.hbDNNInitializeFromFiles(cell.address, [modelFile], 1));
const rawPacked = cellView.getBigUint64(0, true);
check(rawDnn.hbDNNGetModelHandle(cell.address, rawPacked, 'trivial'));
const rawModel = cellView.getBigUint64(0, true);
const rawIn = raw.allocStruct();
const rawOut = raw.allocStruct();
check(raw.hbSysAllocCachedMem(rawIn.pointer, 16));
check(raw.hbSysAllocCachedMem(rawOut.pointer, 16));
const fields = (m: typeof rawIn) => ({
  phyAddr: m.u64[PHY_ADDR]!,
  virAddr: m.u64[1]!,
  memSize: m.u32[MEM_SIZE]!,
});
// The tensor arrays laid out once, as a C program keeps its hbDNNTensor arrays.
const rawCall = marshalInfer(
  (size) => rawDnn.allocBlock(size),
  LAYOUTS.C, // the default stand-in is libdnn 1.24.5
  0n,
  [{ sysMem: [fields(rawOut)], properties: outProps }],
  [{ sysMem: [fields(rawIn)], properties: inProps }],
  ctrl,
);
const propsBlock = rawDnn.allocBlock(176);

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
  {
    name: 'hbDNNGetInputCount',
    batch: 1000,
    api: () => void value(dnn.getInputCount(model)),
    raw: () => check(rawDnn.hbDNNGetInputCount(cell.address, rawModel)),
  },
  {
    name: 'hbDNNGetInputTensorProperties (decoded / raw struct)',
    batch: 200,
    api: () => void value(dnn.getInputTensorProperties(model, 0)),
    raw: () => check(rawDnn.hbDNNGetInputTensorProperties(propsBlock.address, rawModel, 0)),
  },
  {
    name: 'hbDNNInfer + hbDNNWaitTaskDone + hbDNNReleaseTask (16 B in, 16 B out)',
    batch: 20,
    api: () => {
      const task = value<hbDNNTaskHandle_t>(
        dnn.infer(null, [tensor(outMem, outProps)], [tensor(inMem, inProps)], model, ctrl),
      );
      check(dnn.waitTaskDone(task, 0));
      check(dnn.releaseTask(task));
    },
    raw: () => {
      rawCall.block.bytes.setBigUint64(0, 0n, true);
      check(
        rawDnn.hbDNNInfer(
          rawCall.taskCell,
          rawCall.outputCell,
          rawCall.input,
          rawModel,
          rawCall.ctrl,
        ),
      );
      const task = rawCall.block.bytes.getBigUint64(0, true);
      check(rawDnn.hbDNNWaitTaskDone(task, 0));
      check(rawDnn.hbDNNReleaseTask(task));
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
check(dnn.release(packed));
check(rawDnn.hbDNNRelease(rawPacked));
for (const m of [inMem, outMem]) check(hbSysFreeMem(m));
for (const m of [rawIn, rawOut]) check(raw.hbSysFreeMem(m.pointer));

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
