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
 *   untimed, so both time the same operations. The timed operations run in rounds (three),
 *   glibc's and ours alternating: before each of our rounds glibc replays the trace up to its
 *   end, timing that round's operations alone (see api.bench.ts, ROUNDS: a noisy host's speed
 *   changes within seconds, and each side then samples the same stretch of time).
 * - The figure is the mean per operation (total time / operations, one clock read per batch
 *   of 32): the median of batches would leave the garbage collector's pauses out, and they
 *   are part of what the API costs.
 * - GC share: the durations of the `gc` performance entries (PerformanceObserver, entry type
 *   'gc': every scavenge and mark-compact, as V8 reports them, no flag needed) that start
 *   within our timed rounds, divided by their wall time.
 */

import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { emulator, HB_SYS_SUCCESS, hbSysAllocMem, hbSysFreeMem } from '../src/index.js';
import type { hbSysMem } from '../src/mem.js';
import { BATCH, makeTrace } from './allocator.bench.js';
import { ROUNDS } from './api.bench.js';
import {
  buildReplayer,
  concatBatches,
  opStats,
  replayGlibcBatches,
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

  // Rounds, glibc's and ours alternating (see api.bench.ts, ROUNDS): glibc replays the trace
  // up to the end of each of our rounds, timing that round's operations alone.
  const replayer = buildReplayer();
  const file = join(repoRoot(), '.tmp', `api-churn-${live}.trace`);
  if (!('path' in replayer)) notes.push(`glibc skipped: ${replayer.missing}`);
  const gcs: { start: number; duration: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const batches = Math.floor(ops / BATCH);
  const ours: Float64Array[] = [];
  const theirs: Float64Array[] = [];
  const spans: [number, number][] = [];
  for (let r = 0, done = 0; r < ROUNDS; r++) {
    const n = Math.floor((batches * (r + 1)) / ROUNDS) - done;
    if ('path' in replayer) {
      const upTo = warm + (done + n) * BATCH;
      const cut = {
        setup: trace.setup,
        victims: trace.victims.subarray(0, upTo),
        sizes: trace.sizes.subarray(0, upTo),
      };
      writeReplayTrace(file, cut, BATCH);
      theirs.push(
        replayGlibcBatches(replayer.path, 'churn', file, BATCH, true, warm + done * BATCH),
      );
    }
    const first = warm + done * BATCH;
    const t0 = performance.now();
    ours.push(timeBatches(n, BATCH, timerNs, (at) => churn(first + at)));
    spans.push([t0, performance.now()]);
    done += n;
  }
  // The entries are delivered asynchronously: let the observer's callback run.
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  observer.disconnect();
  const inChurn = gcs.filter((g) => spans.some(([a, b]) => g.start >= a && g.start < b));
  const gcMs = inChurn.reduce((sum, g) => sum + g.duration, 0);
  const wallMs = spans.reduce((sum, [a, b]) => sum + b - a, 0);
  slot.length = 0;
  await emulator.reset({ heapSize: 64 * MIB });
  const perOp = concatBatches(ours);
  const glibcOps = concatBatches(theirs);
  const glibc = theirs.length === 0 ? undefined : opStats(glibcOps, glibcOps.length * BATCH);
  return {
    live,
    ops: batches * BATCH,
    hbsys: opStats(perOp, batches * BATCH),
    glibc,
    gcShare: gcMs / wallMs,
    gcMs,
    gcCount: inChurn.length,
    wallMs,
    notes,
  };
}
