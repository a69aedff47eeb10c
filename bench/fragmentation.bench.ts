/**
 * Workload: fragmentation under a churn of tensor-sized blocks, until the first failure.
 *
 * Heap: 64 MiB (pages of 4 KiB for hbsys). The trace (seeded) is a sequence of operations:
 * with probability 0.35 free a random live block (victim index modulo the live count, the
 * live list kept in allocation order with removal by swap with the last), otherwise
 * allocate a block whose size is drawn from the tensors of real models:
 * - a few large (10%): 640x640 NV12 frame (600 KiB), 640x640x3 RGB input (1.2 MiB),
 *   80x80x256 and 160x160x64 int8 feature maps (1.56 MiB), a 3.5 MiB weight block;
 * - some medium (30%): 40x40x256 (400 KiB), 20x20x512 and 56x56x64 (~200 KiB),
 *   28x28x128 (98 KiB) feature maps;
 * - many small (60%): 7x7x512 (24.5 KiB), a 1000-class float output (3.9 KiB), 1x1x1280
 *   (1.25 KiB), 16 KiB and 2 KiB parameter blocks, 256 B of box results.
 * The figure: bytes asked for by the live blocks at the first failed allocation, divided by
 * the heap size. hbsys runs it through hbSysAllocMem / hbSysFreeMem on an emulator of that
 * heap; @thi.ng/malloc on a MemPool of the same bytes (64-byte alignment); glibc through
 * bench/malloc-replay.c with every block on the brk heap and RLIMIT_DATA at the heap size.
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
const OPS = 200_000;

const LARGE = [614_400, 1_228_800, 1_638_400, 1_638_400, 3_670_016];
const MEDIUM = [409_600, 204_800, 200_704, 100_352];
const SMALL = [25_088, 4_000, 1_280, 16_384, 2_048, 256];

/** victims[i] < 0: allocate sizes[i]; else free live[victims[i] % live.length]. */
export function fragTrace(seed: number): { victims: Int32Array; sizes: Int32Array } {
  const r = rng(seed);
  const victims = new Int32Array(OPS);
  const sizes = new Int32Array(OPS);
  const pick = (list: number[]) => list[Math.floor(r() * list.length)]!;
  for (let i = 0; i < OPS; i++) {
    if (r() < 0.35) {
      victims[i] = Math.floor(r() * 0x7fff_ffff);
    } else {
      victims[i] = -1;
      const c = r();
      sizes[i] = c < 0.1 ? pick(LARGE) : c < 0.4 ? pick(MEDIUM) : pick(SMALL);
    }
  }
  return { victims, sizes };
}

export interface FragResult {
  /** Bytes allocated at first failure / heap size. */
  hbsys: number;
  thing: number;
  glibc: number | undefined;
  notes: string[];
}

/** Replays the trace through `alloc`/`free` until the first failure; returns live bytes. */
function replay<H>(
  t: { victims: Int32Array; sizes: Int32Array },
  alloc: (size: number) => H | undefined,
  free: (h: H) => void,
): number {
  const live: H[] = [];
  const liveSize: number[] = [];
  let bytes = 0;
  for (let i = 0; i < t.victims.length; i++) {
    const v = t.victims[i]!;
    if (v < 0) {
      const h = alloc(t.sizes[i]!);
      if (h === undefined) return bytes;
      live.push(h);
      liveSize.push(t.sizes[i]!);
      bytes += t.sizes[i]!;
    } else if (live.length > 0) {
      const k = v % live.length;
      free(live[k]!);
      bytes -= liveSize[k]!;
      live[k] = live[live.length - 1]!;
      liveSize[k] = liveSize[liveSize.length - 1]!;
      live.pop();
      liveSize.pop();
    }
  }
  throw new Error('the fragmentation trace ended before any allocation failed');
}

export async function fragmentationBench(): Promise<FragResult> {
  const t = fragTrace(0xf4a6);
  const notes: string[] = [];
  await emulator.reset({ heapSize: FRAG_HEAP, pageSize: 4096, maxAllocations: 1 << 20 });
  const hbsysBytes = replay(
    t,
    (size) => {
      const mem = {} as hbSysMem;
      return hbSysAllocMem(mem, size) === HB_SYS_SUCCESS ? mem : undefined;
    },
    (mem) => {
      if (hbSysFreeMem(mem) !== HB_SYS_SUCCESS) throw new Error('hbSysFreeMem failed in the trace');
    },
  );
  const pool = new MemPool({ size: FRAG_HEAP, align: 64 });
  const thingBytes = replay(
    t,
    (size) => {
      const p = pool.malloc(size);
      return p === 0 ? undefined : p;
    },
    (p) => pool.free(p),
  );
  let glibc: number | undefined;
  const replayer = buildReplayer();
  if ('path' in replayer) {
    const file = join(repoRoot(), '.tmp', 'fragmentation.trace');
    const data = new Int32Array(3 + 2 * OPS);
    data.set([0, OPS, 1]);
    data.set(t.victims, 3);
    data.set(t.sizes, 3 + OPS);
    writeFileSync(file, new Uint8Array(data.buffer));
    const out = runReplayer(replayer.path, ['frag', file, String(FRAG_HEAP)]) as {
      failedAtOp: number;
      bytesAllocated: number;
    };
    if (out.failedAtOp < 0) notes.push('glibc never failed: RLIMIT_DATA did not bound its heap');
    else glibc = out.bytesAllocated / FRAG_HEAP;
  } else {
    notes.push(`glibc skipped: ${replayer.missing}`);
  }
  return { hbsys: hbsysBytes / FRAG_HEAP, thing: thingBytes / FRAG_HEAP, glibc, notes };
}
