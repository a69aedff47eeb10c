/**
 * Workload: hbSysAllocMem (or hbSysAllocCachedMem) + hbSysFreeMem pairs through the public
 * API, as a user calls them: a fresh `const mem = {}` per call (the README's idiom), on an
 * emulator with a 64 MiB heap and 4 KiB pages (otherwise the defaults: strict cache model,
 * sanitizer off). New memory reads 0, so each pair includes zeroing its size.
 * - 4 KiB, fresh mem (the aim), and 4 KiB with one mem reused (for information: what the
 *   per-call object costs);
 * - 1 MiB uncached and 1 MiB cached, fresh mem.
 * Baseline in the same run: glibc malloc + memset(0) + free of the same size
 * (bench/malloc-replay.c `pairs … zero`), which is what a C program on the board pays for
 * zeroed memory of its own.
 * Timing, both sides alike: a quarter of the pairs first, untimed (warm-up; ours also for at
 * least {@link WARM_MS}), then one clock read per batch (32 pairs of 4 KiB, 4 of 1 MiB),
 * less the clock's cost; median and p99 over batches, mean = total / pairs.
 * Rounds: each kind's pairs are split in {@link ROUNDS} rounds, glibc's and ours
 * alternating (glibc, hbsys, glibc, hbsys, …), and each side's batches of every round make
 * its figures (so each kind has a glibc sample of its own). On a noisy host the speed of
 * the machine changes within seconds (glibc's 4 KiB pair was seen at 95 and at 153 ns in
 * consecutive runs): each side samples the same stretch of time, so the ratio does not
 * hang on which side ran in a slow moment.
 */

/** Rounds of each size, the two sides alternating. */
export const ROUNDS = 3;

/**
 * The least warm-up of each kind's first round, in ms. V8 compiles the pair's calls in
 * stages over its first ten thousand or so pairs, and some stages stop the thread for
 * milliseconds: on Node 20 (2026-12-07) those stops added about 45 ms over the first 13k
 * pairs, and the quick run's quarter (4000 pairs) left them in the timed batches, where the
 * 4 KiB mean came out at 2.4x the median (1269 against 522 ns; 540 against 476 over 300k
 * pairs).
 */
const WARM_MS = 150;

import { join } from 'node:path';
import {
  emulator,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFreeMem,
} from '../src/index.js';
import type { hbSysMem } from '../src/mem.js';
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

export const KIB = 1024;
const MIB = 1024 * 1024;

export type PairKind = 'fresh' | 'reused' | 'uncached' | 'cached';

export interface ApiResult {
  size: number;
  /** fresh / reused: 4 KiB hbSysAllocMem; uncached / cached: 1 MiB, fresh mem. */
  kind: PairKind;
  hbsys: TimeStats;
  /** glibc malloc + memset(0) + free of `size`; undefined without gcc (see notes). */
  glibc: TimeStats | undefined;
  notes: string[];
}

/** `ops` pairs of `size` through the API timed in batches of `batch`, after a warm-up. */
function hbsysPairs(
  kind: PairKind,
  size: number,
  ops: number,
  warm: number,
  batch: number,
  timerNs: number,
  warmMs: number,
) {
  const alloc = kind === 'cached' ? hbSysAllocCachedMem : hbSysAllocMem;
  const reused = { phyAddr: 0n, virAddr: null, memSize: 0 } as hbSysMem;
  const fail = () => {
    throw new Error(`hbSysAllocMem/hbSysFreeMem of ${size} failed in the benchmark`);
  };
  const run =
    kind === 'reused'
      ? () => {
          for (let j = 0; j < batch; j++) {
            if (alloc(reused, size) !== HB_SYS_SUCCESS || hbSysFreeMem(reused) !== HB_SYS_SUCCESS)
              fail();
          }
        }
      : () => {
          for (let j = 0; j < batch; j++) {
            const mem = {} as hbSysMem;
            if (alloc(mem, size) !== HB_SYS_SUCCESS || hbSysFreeMem(mem) !== HB_SYS_SUCCESS) fail();
          }
        };
  const batches = Math.max(1, Math.floor(ops / batch));
  // Untimed: `warm` pairs, and on for `warmMs` more if they took less.
  const until = performance.now() + warmMs;
  for (let left = Math.max(1, Math.floor(warm / batch)); left > 0 || performance.now() < until; ) {
    run();
    left--;
  }
  return timeBatches(batches, batch, timerNs, run);
}

/** 4 KiB pairs: `smallOps`; 1 MiB pairs: `largeOps`. */
export async function apiBench(smallOps: number, largeOps: number): Promise<ApiResult[]> {
  await emulator.reset({ heapSize: 64 * MIB, pageSize: 4096 });
  const timerNs = timerCostNs();
  const replayer = buildReplayer();
  /** glibc's trace of `ops` pairs of `size` (written once, replayed each round), or why not. */
  const glibcTrace = (size: number, ops: number, batch: number) => {
    if (!('path' in replayer)) return `glibc skipped: ${replayer.missing}`;
    const file = join(repoRoot(), '.tmp', `api-pairs-${size}.trace`);
    // A warm-up of the same length as the JS side's, untimed: glibc's first blocks of 1 MiB
    // come from mmap (and fault in page by page) until free raises its mmap threshold.
    const batches = Math.max(1, Math.floor(ops / batch));
    const warm = Math.max(1, batches >> 2) * batch;
    const total = warm + batches * batch;
    const sizes = new Int32Array(total).fill(size);
    const trace = { setup: new Int32Array(0), victims: new Int32Array(total), sizes };
    writeReplayTrace(file, trace, batch);
    const path = replayer.path;
    return () => replayGlibcBatches(path, 'pairs', file, batch, true, warm);
  };
  const out: ApiResult[] = [];
  const sizes = [
    [4 * KIB, smallOps, 32, ['fresh', 'reused']],
    [MIB, largeOps, 4, ['uncached', 'cached']],
  ] as const;
  // Kind after kind, each with rounds of its own: the kinds alternating would make the
  // calls' inline caches see two shapes of mem (a fresh `{}`, one reused), which a program
  // that uses one pattern does not pay.
  for (const [size, ops, batch, kinds] of sizes) {
    const perRound = Math.max(batch, Math.floor(ops / ROUNDS));
    const replay = glibcTrace(size, perRound, batch);
    const notes = typeof replay === 'string' ? [replay] : [];
    for (const kind of kinds) {
      const ours: Float64Array[] = [];
      const theirs: Float64Array[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        if (typeof replay !== 'string') theirs.push(replay());
        // The first round warms up with a quarter of all the pairs, and for at least
        // WARM_MS (the JIT compiles the calls); later ones with a batch, after glibc's
        // process ran. (Each glibc run is a new process, and warms up with a quarter of its
        // round: C has no JIT.)
        const warm = r === 0 ? Math.max(batch, Math.floor(ops / 4)) : batch;
        ours.push(hbsysPairs(kind, size, perRound, warm, batch, timerNs, r === 0 ? WARM_MS : 0));
      }
      const h = concatBatches(ours);
      const g = concatBatches(theirs);
      out.push({
        size,
        kind,
        hbsys: opStats(h, h.length * batch),
        glibc: theirs.length === 0 ? undefined : opStats(g, g.length * batch),
        notes,
      });
    }
  }
  return out;
}
