/**
 * Workload: churn through the public API at 100 thousand live allocations.
 *
 * - Setup: 100k `hbSysAllocMem(mem, size)` with a fresh `const mem = {}` each, sizes uniform
 *   in 64 B … 2 KiB (seeded; the allocator benchmark's trace), kept live, on an emulator with
 *   64 B pages and a 256 MiB heap (otherwise the defaults: strict cache model, sanitizer off).
 * - Churn: each operation is `hbSysFreeMem` of the mem in a random slot, then
 *   `hbSysAllocMem` of a new random size into a fresh `{}` kept in that slot, so 100k stay
 *   live. A tenth of the trace runs first, untimed, for the JIT.
 * - Baseline in the same run: glibc replaying the same trace (bench/malloc-replay.c
 *   `churn … zero`): free, then malloc + memset(0) of the new size; the same tenth first,
 *   untimed, so both time the same operations.
 * - The figure is the mean per operation (total time / operations, one clock read per batch
 *   of 32): the median of batches would leave the garbage collector's pauses out, and they
 *   are part of what the API costs.
 * - GC share: the durations of the `gc` performance entries (PerformanceObserver, entry type
 *   'gc': every scavenge and mark-compact, as V8 reports them, no flag needed) that start
 *   within the timed churn, divided by its wall time.
 */

import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { emulator, HB_SYS_SUCCESS, hbSysAllocMem, hbSysFreeMem } from '../src/index.js';
import type { hbSysMem } from '../src/mem.js';
import { BATCH, makeTrace } from './allocator.bench.js';
import {
  buildReplayer,
  opStats,
  replayGlibc,
  repoRoot,
  type TimeStats,
  timeBatches,
  timerCostNs,
  writeReplayTrace,
} from './measure.js';

export interface ChurnResult {
  live: number;
  ops: number;
  hbsys: TimeStats;
  glibc: TimeStats | undefined;
  /** Share of the timed churn's wall time spent in garbage collection (0 … 1). */
  gcShare: number;
  gcMs: number;
  gcCount: number;
  wallMs: number;
  notes: string[];
}

const MIB = 1024 * 1024;

export async function churnBench(live: number, ops: number): Promise<ChurnResult> {
  const warm = Math.ceil(ops / 10 / BATCH) * BATCH;
  const trace = makeTrace(live, warm + ops, 0xc4a7 + live);
  const notes: string[] = [];
  // Room for the live bytes (1 KiB on average) and the churn's spread, at most the 2 GiB limit.
  const heapSize = Math.min(2 ** 31, Math.max(64 * MIB, Math.ceil((live * 2560) / MIB) * MIB));
  await emulator.reset({ heapSize, pageSize: 64, maxAllocations: live + 64 });
  const fail = (what: string) => {
    throw new Error(`${what} failed in the churn benchmark`);
  };
  const slot: hbSysMem[] = new Array(live);
  for (let i = 0; i < live; i++) {
    const mem = {} as hbSysMem;
    if (hbSysAllocMem(mem, trace.setup[i]!) !== HB_SYS_SUCCESS) fail('hbSysAllocMem');
    slot[i] = mem;
  }
  const { victims, sizes } = trace;
  const churn = (first: number) => {
    for (let j = first; j < first + BATCH; j++) {
      const k = victims[j]!;
      if (hbSysFreeMem(slot[k]!) !== HB_SYS_SUCCESS) fail('hbSysFreeMem');
      const mem = {} as hbSysMem;
      if (hbSysAllocMem(mem, sizes[j]!) !== HB_SYS_SUCCESS) fail('hbSysAllocMem');
      slot[k] = mem;
    }
  };
  const timerNs = timerCostNs();
  timeBatches(warm / BATCH, BATCH, timerNs, churn);

  const gcs: { start: number; duration: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const batches = Math.floor(ops / BATCH);
  const t0 = performance.now();
  const perOp = timeBatches(batches, BATCH, timerNs, (first) => churn(warm + first));
  const t1 = performance.now();
  // The entries are delivered asynchronously: let the observer's callback run.
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  observer.disconnect();
  const inChurn = gcs.filter((g) => g.start >= t0 && g.start < t1);
  const gcMs = inChurn.reduce((sum, g) => sum + g.duration, 0);
  slot.length = 0;
  await emulator.reset({ heapSize: 64 * MIB });

  let glibc: TimeStats | undefined;
  const replayer = buildReplayer();
  if ('path' in replayer) {
    const file = join(repoRoot(), '.tmp', `api-churn-${live}.trace`);
    writeReplayTrace(file, trace, BATCH);
    glibc = replayGlibc(replayer.path, 'churn', file, BATCH, true, warm);
  } else {
    notes.push(`glibc skipped: ${replayer.missing}`);
  }
  return {
    live,
    ops: batches * BATCH,
    hbsys: opStats(perOp, batches * BATCH),
    glibc,
    gcShare: gcMs / (t1 - t0),
    gcMs,
    gcCount: inChurn.length,
    wallMs: t1 - t0,
    notes,
  };
}
