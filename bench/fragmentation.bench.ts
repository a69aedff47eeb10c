/**
 * Workload: fragmentation under a long churn of tensor-sized blocks, then growth until the
 * first failure.
 *
 * Heap: 64 MiB (pages of 4 KiB for hbsys). The trace (seeded) is a sequence of operations,
 * each either an allocation of a size drawn from the tensors of real models or a free of a
 * random live block (victim index modulo the live count, the live list kept in allocation
 * order with removal by swap with the last):
 * - a few large (10%): 640x640 NV12 frame (600 KiB), 640x640x3 RGB input (1.2 MiB),
 *   80x80x256 and 160x160x64 int8 feature maps (1.56 MiB), a 3.5 MiB weight block;
 * - some medium (30%): 40x40x256 (400 KiB), 20x20x512 and 56x56x64 (~200 KiB),
 *   28x28x128 (98 KiB) feature maps;
 * - many small (60%): 7x7x512 (24.5 KiB), a 1000-class float output (3.9 KiB), 1x1x1280
 *   (1.25 KiB), 16 KiB and 2 KiB parameter blocks, 256 B of box results.
 * Phases: fill to 70% of the heap; churn for 8000 operations (quick: 4000) around that
 * level (free while above it, allocate while below), which scatters holes of every size;
 * then the pressure phase: an allocation 2 times in 3, a free 1 time in 3, asking for far
 * more than the heap holds, up to 20000 operations in all (quick: 10000). A failed
 * allocation is skipped (as a program that retries later would do) and the trace goes on. The trace is written beforehand by simulating the live list
 * without failures; each contestant's live list departs from it only by its own failures.
 * The figure: the mean, over the pressure phase, of the bytes asked for by the live blocks,
 * divided by the heap size: how full an allocator keeps the heap when every request it
 * can place is placed. Also reported: the same ratio at each one's first failure, and how
 * many allocations failed. The former figure, the bytes at the first failure of a trace
 * that grew from the start, failed every allocator at the same operation (the heap was
 * simply full), so it told them apart by nothing; the first failure after a churn still
 * comes at the first big block that finds no hole, often the same one for good-fit
 * allocators, which is why the mean under pressure is the figure.
 * hbsys runs it through hbSysAllocMem / hbSysFreeMem on an emulator of that heap, with the
 * board's 4 KiB pages (the aim), and again with 64-byte pages (for information: the
 * allocator's placement alone, without the page rounding of small blocks);
 * @thi.ng/malloc on a MemPool of the same bytes (64-byte alignment); glibc through
 * bench/malloc-replay.c with every block on the brk heap and RLIMIT_DATA at the heap size
 * (so glibc's own headers count against it, as the emulator's page rounding does for hbsys).
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemPool } from '@thi.ng/malloc';
import { emulator } from '../src/emulator/index.js';
import { hbSysAllocMem, hbSysFreeMem } from '../src/hbsys.js';
import type { hbSysMem } from '../src/mem.js';
import { HB_SYS_SUCCESS } from '../src/status.js';
import { buildReplayer, repoRoot, rng, runReplayer } from './measure.js';

export const FRAG_HEAP = 64 * 1024 * 1024;
const LEVEL = 0.7;

const LARGE = [614_400, 1_228_800, 1_638_400, 1_638_400, 3_670_016];
const MEDIUM = [409_600, 204_800, 200_704, 100_352];
const SMALL = [25_088, 4_000, 1_280, 16_384, 2_048, 256];

/** victims[i] < 0: allocate sizes[i]; else free live[victims[i] % live.length]. */
export interface FragTrace {
  victims: Int32Array;
  sizes: Int32Array;
  /** The first operation of the pressure phase. */
  pressureFrom: number;
}

export function fragTrace(seed: number, churnOps: number, totalOps: number): FragTrace {
  const r = rng(seed);
  const victims = new Int32Array(totalOps);
  const sizes = new Int32Array(totalOps);
  const pick = (list: number[]) => list[Math.floor(r() * list.length)]!;
  // The live list as the replay keeps it, so that the live bytes are known at each step.
  const live: number[] = [];
  let bytes = 0;
  let churned = 0;
  let pressureFrom = totalOps;
  for (let i = 0; i < totalOps; i++) {
    const filling = churned === 0 && bytes < LEVEL * FRAG_HEAP;
    const churning = !filling && churned < churnOps;
    if (churning) churned++;
    else if (!filling && pressureFrom === totalOps) pressureFrom = i;
    const free = filling ? false : churning ? bytes >= LEVEL * FRAG_HEAP : r() < 1 / 3;
    if (free && live.length > 0) {
      const v = Math.floor(r() * 0x7fff_ffff);
      victims[i] = v;
      const k = v % live.length;
      bytes -= live[k]!;
      live[k] = live[live.length - 1]!;
      live.pop();
    } else {
      victims[i] = -1;
      const c = r();
      const size = c < 0.1 ? pick(LARGE) : c < 0.4 ? pick(MEDIUM) : pick(SMALL);
      sizes[i] = size;
      live.push(size);
      bytes += size;
    }
  }
  return { victims, sizes, pressureFrom };
}

export interface FragResult {
  /** Mean live bytes / heap size over the pressure phase, failed allocations skipped. */
  hbsys: number;
  /**
   * The same for hbsys with 64-byte pages: its allocator without the board's 4 KiB page
   * granularity, which rounds each small block up to a page and counts against hbsys (for
   * information: the peers round to 64 and 16 bytes).
   */
  hbsysFinePages: number;
  thing: number;
  glibc: number | undefined;
  /** Live bytes / heap size at each one's first failed allocation. */
  firstFailure: { hbsys: number; thing: number; glibc: number | undefined };
  /** Allocations that failed (and were skipped) in the whole trace. */
  failedAllocs: { hbsys: number; thing: number; glibc: number | undefined };
  notes: string[];
}

interface Replayed {
  meanFrom: number;
  atFirstFailure: number;
  failed: number;
}

/**
 * Replays the trace through `alloc`/`free`, skipping failed allocations: the live bytes at
 * the first failure, and their mean after each operation from `from` on.
 */
function replay<H>(
  t: FragTrace,
  alloc: (size: number) => H | undefined,
  free: (h: H) => void,
): Replayed {
  const live: H[] = [];
  const liveSize: number[] = [];
  let bytes = 0;
  let atFirstFailure = -1;
  let failed = 0;
  let sum = 0;
  for (let i = 0; i < t.victims.length; i++) {
    const v = t.victims[i]!;
    if (v < 0) {
      const h = alloc(t.sizes[i]!);
      if (h === undefined) {
        if (atFirstFailure < 0) atFirstFailure = bytes;
        failed++;
      } else {
        live.push(h);
        liveSize.push(t.sizes[i]!);
        bytes += t.sizes[i]!;
      }
    } else if (live.length > 0) {
      const k = v % live.length;
      free(live[k]!);
      bytes -= liveSize[k]!;
      live[k] = live[live.length - 1]!;
      liveSize[k] = liveSize[liveSize.length - 1]!;
      live.pop();
      liveSize.pop();
    }
    if (i >= t.pressureFrom) sum += bytes;
  }
  if (atFirstFailure < 0) throw new Error('no allocation of the fragmentation trace failed');
  for (const h of live) free(h);
  return { meanFrom: sum / (t.victims.length - t.pressureFrom), atFirstFailure, failed };
}

/** `quick`: a churn of 4000 operations and 10000 in all, instead of 8000 and 20000. */
export async function fragmentationBench(quick = false): Promise<FragResult> {
  const t = fragTrace(0xf4a6, quick ? 4000 : 8000, quick ? 10_000 : 20_000);
  const totalOps = t.victims.length;
  const notes: string[] = [];
  const throughApi = async (pageSize: number) => {
    await emulator.reset({ heapSize: FRAG_HEAP, pageSize, maxAllocations: 1 << 20 });
    return replay(
      t,
      (size) => {
        const mem = {} as hbSysMem;
        return hbSysAllocMem(mem, size) === HB_SYS_SUCCESS ? mem : undefined;
      },
      (mem) => {
        if (hbSysFreeMem(mem) !== HB_SYS_SUCCESS) {
          throw new Error('hbSysFreeMem failed in the trace');
        }
      },
    );
  };
  const finePages = await throughApi(64);
  const hbsys = await throughApi(4096);
  const pool = new MemPool({ size: FRAG_HEAP, align: 64 });
  const thing = replay(
    t,
    (size) => {
      const p = pool.malloc(size);
      return p === 0 ? undefined : p;
    },
    (p) => pool.free(p),
  );
  let glibc: Replayed | undefined;
  const replayer = buildReplayer();
  if ('path' in replayer) {
    const file = join(repoRoot(), '.tmp', 'fragmentation.trace');
    const data = new Int32Array(3 + 2 * totalOps);
    data.set([0, totalOps, 1]);
    data.set(t.victims, 3);
    data.set(t.sizes, 3 + totalOps);
    writeFileSync(file, new Uint8Array(data.buffer));
    const out = runReplayer(replayer.path, [
      'frag',
      file,
      String(FRAG_HEAP),
      String(t.pressureFrom),
    ]) as {
      failedAtOp: number;
      bytesAtFirstFailure: number;
      failedAllocs: number;
      meanBytesFrom: number;
    };
    if (out.failedAtOp < 0) notes.push('glibc never failed: RLIMIT_DATA did not bound its heap');
    else {
      glibc = {
        meanFrom: out.meanBytesFrom,
        atFirstFailure: out.bytesAtFirstFailure,
        failed: out.failedAllocs,
      };
    }
  } else {
    notes.push(`glibc skipped: ${replayer.missing}`);
  }
  const share = (r: Replayed | undefined, key: 'meanFrom' | 'atFirstFailure') =>
    r === undefined ? undefined : r[key] / FRAG_HEAP;
  return {
    hbsys: hbsys.meanFrom / FRAG_HEAP,
    hbsysFinePages: finePages.meanFrom / FRAG_HEAP,
    thing: thing.meanFrom / FRAG_HEAP,
    glibc: share(glibc, 'meanFrom'),
    firstFailure: {
      hbsys: hbsys.atFirstFailure / FRAG_HEAP,
      thing: thing.atFirstFailure / FRAG_HEAP,
      glibc: share(glibc, 'atFirstFailure'),
    },
    failedAllocs: { hbsys: hbsys.failed, thing: thing.failed, glibc: glibc?.failed },
    notes,
  };
}
