/**
 * Workload: the allocator alone, at 1 thousand, 100 thousand and 1 million live blocks.
 *
 * - Setup: N blocks of random sizes, uniform in 64 B … 2 KiB (seeded), allocated and kept.
 * - Pairs: M operations, each an allocation of a random size (same distribution) freed at
 *   once, with the N blocks live around it.
 * - Churn: M operations, each frees the live block in a random slot and allocates a block of
 *   a new random size into that slot, so N blocks stay live.
 * The same trace (a file of int32) is replayed by hbsys's TLSF (units of 64 B, the smallest
 * page the emulator allows; capacity 64 units per live block, at most 2 GiB), glibc
 * malloc/free (bench/malloc-replay.c), @thi.ng/malloc's MemPool (64-byte alignment, the same
 * heap bytes) and `new ArrayBuffer(size)` (free = dropping the reference; the GC pays).
 *
 * Timing: one clock read per batch of 32 operations (performance.now in JS, clock_gettime in
 * C); per-operation time = batch time / 32, less the clock's own cost. The median and the
 * p99 are over batches. @thi.ng/malloc's free walks its list of used blocks, so at large N
 * it is given a time budget and replays only a prefix of the trace (its `ops` says how many).
 */

import { join } from 'node:path';
import { MemPool } from '@thi.ng/malloc';
import { Tlsf } from '../src/emulator/tlsf.js';
import {
  buildReplayer,
  type OpStats,
  opStats,
  replayGlibcBatches,
  repoRoot,
  rng,
  timerCostNs,
  writeReplayTrace,
} from './measure.js';

export const BATCH = 32;
const UNIT = 64;
const MIN_SIZE = 64;
const MAX_SIZE = 2048;

export interface AllocatorTrace {
  live: number;
  ops: number;
  setup: Int32Array;
  victims: Int32Array;
  sizes: Int32Array;
}

export function makeTrace(live: number, ops: number, seed: number): AllocatorTrace {
  const r = rng(seed);
  const size = () => MIN_SIZE + Math.floor(r() * (MAX_SIZE - MIN_SIZE + 1));
  const setup = new Int32Array(live);
  for (let i = 0; i < live; i++) setup[i] = size();
  const victims = new Int32Array(ops);
  const sizes = new Int32Array(ops);
  for (let i = 0; i < ops; i++) {
    victims[i] = Math.floor(r() * live);
    sizes[i] = size();
  }
  return { live, ops, setup, victims, sizes };
}

function perOp(batchMs: Float64Array, count: number, timerNs: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.max(0, batchMs[i]! * 1e6 - timerNs) / BATCH;
  return out;
}

export function tlsfCapacity(live: number): number {
  return Math.min(2 ** 25, live * 64);
}

// --- hbsys TLSF ------------------------------------------------------------------------

function tlsfRun(t: AllocatorTrace, churn: boolean, timerNs: number): OpStats {
  const tlsf = new Tlsf(tlsfCapacity(t.live));
  const slot = new Int32Array(t.live);
  for (let i = 0; i < t.live; i++) slot[i] = tlsf.alloc(Math.ceil(t.setup[i]! / UNIT));
  const batches = Math.floor(t.ops / BATCH);
  const ms = new Float64Array(batches);
  const { victims, sizes } = t;
  let failures = 0;
  for (let b = 0; b < batches; b++) {
    const base = b * BATCH;
    const t0 = performance.now();
    if (churn) {
      for (let j = base; j < base + BATCH; j++) {
        const k = victims[j]!;
        tlsf.free(slot[k]!);
        slot[k] = tlsf.alloc((sizes[j]! + UNIT - 1) >>> 6);
      }
    } else {
      for (let j = base; j < base + BATCH; j++) {
        const p = tlsf.alloc((sizes[j]! + UNIT - 1) >>> 6);
        tlsf.free(p);
      }
    }
    ms[b] = performance.now() - t0;
  }
  for (let i = 0; i < t.live; i++) if (slot[i]! < 0) failures++;
  if (failures > 0) throw new Error(`TLSF ran out of room in the allocator trace (${failures})`);
  return opStats(perOp(ms, batches, timerNs), batches * BATCH);
}

// --- @thi.ng/malloc --------------------------------------------------------------------

function thingRun(t: AllocatorTrace, churn: boolean, timerNs: number, budgetMs: number): OpStats {
  const pool = new MemPool({ size: Math.min(2 ** 31, tlsfCapacity(t.live) * UNIT), align: 64 });
  const slot = new Float64Array(t.live);
  for (let i = 0; i < t.live; i++) slot[i] = pool.malloc(t.setup[i]!);
  const batches = Math.floor(t.ops / BATCH);
  const ms = new Float64Array(batches);
  const { victims, sizes } = t;
  const deadline = performance.now() + budgetMs;
  let done = 0;
  for (let b = 0; b < batches; b++) {
    const base = b * BATCH;
    const t0 = performance.now();
    if (churn) {
      for (let j = base; j < base + BATCH; j++) {
        const k = victims[j]!;
        pool.free(slot[k]!);
        slot[k] = pool.malloc(sizes[j]!);
      }
    } else {
      for (let j = base; j < base + BATCH; j++) pool.free(pool.malloc(sizes[j]!));
    }
    const t1 = performance.now();
    ms[b] = t1 - t0;
    done++;
    if (t1 > deadline) break;
  }
  return opStats(perOp(ms, done, timerNs), done * BATCH);
}

// --- new ArrayBuffer(size) -------------------------------------------------------------

// biome-ignore lint/correctness/noUnusedVariables: a sink keeps the allocation from being optimised away
let sink: ArrayBuffer | undefined;

function arrayBufferRun(t: AllocatorTrace, churn: boolean, timerNs: number): OpStats {
  const slot: ArrayBuffer[] = new Array(t.live);
  for (let i = 0; i < t.live; i++) slot[i] = new ArrayBuffer(t.setup[i]!);
  const batches = Math.floor(t.ops / BATCH);
  const ms = new Float64Array(batches);
  const { victims, sizes } = t;
  for (let b = 0; b < batches; b++) {
    const base = b * BATCH;
    const t0 = performance.now();
    if (churn) {
      for (let j = base; j < base + BATCH; j++) slot[victims[j]!] = new ArrayBuffer(sizes[j]!);
    } else {
      for (let j = base; j < base + BATCH; j++) sink = new ArrayBuffer(sizes[j]!);
    }
    ms[b] = performance.now() - t0;
  }
  sink = undefined;
  return opStats(perOp(ms, batches, timerNs), batches * BATCH);
}

// --- the benchmark ---------------------------------------------------------------------

export type Contestant = 'hbsys' | 'glibc' | 'thi.ng' | 'ArrayBuffer';

export interface AllocatorResult {
  live: number;
  workload: 'pairs' | 'churn';
  results: Partial<Record<Contestant, OpStats>>;
  notes: string[];
}

export function allocatorBench(
  lives: number[],
  ops: number,
  thingBudgetMs: number,
  progress: (what: string) => void,
): AllocatorResult[] {
  const replayer = buildReplayer();
  const timerNs = timerCostNs();
  const out: AllocatorResult[] = [];
  for (const live of lives) {
    const trace = makeTrace(live, ops, 0x5eed + live);
    const file = join(repoRoot(), '.tmp', `allocator-${live}.trace`);
    writeReplayTrace(file, trace, BATCH);
    for (const workload of ['pairs', 'churn'] as const) {
      const churn = workload === 'churn';
      const notes: string[] = [];
      const results: AllocatorResult['results'] = {};
      progress(`allocator ${workload} at ${live} live: hbsys`);
      tlsfRun(trace, churn, timerNs); // warm-up: the JIT compiles the hot loop
      results.hbsys = tlsfRun(trace, churn, timerNs);
      if ('path' in replayer) {
        progress(`allocator ${workload} at ${live} live: glibc`);
        const perOp = replayGlibcBatches(replayer.path, workload, file, BATCH, false);
        results.glibc = opStats(perOp, perOp.length * BATCH);
      } else {
        notes.push(`glibc skipped: ${replayer.missing}`);
      }
      progress(`allocator ${workload} at ${live} live: @thi.ng/malloc`);
      results['thi.ng'] = thingRun(trace, churn, timerNs, thingBudgetMs);
      if (results['thi.ng'].ops < ops - (ops % BATCH)) {
        notes.push(`@thi.ng/malloc replayed ${results['thi.ng'].ops} of ${ops} ops (time budget)`);
      }
      progress(`allocator ${workload} at ${live} live: ArrayBuffer`);
      results.ArrayBuffer = arrayBufferRun(trace, churn, timerNs);
      out.push({ live, workload, results, notes });
    }
  }
  return out;
}
