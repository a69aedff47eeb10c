/**
 * The hbSys calls whose cost is compared between the main thread and a worker thread
 * (threads.bench.ts): the same code runs in both, on the one board they share.
 * - a 4 KiB hbSysAllocMem + hbSysFreeMem pair with a fresh `const mem = {}`;
 * - hbSysWriteMem of 64 B into a live 4 KiB allocation.
 * Each is timed in batches of 32 calls, one clock read per batch; per-call nanoseconds.
 */

import {
  emulator,
  HB_SYS_SUCCESS,
  hbSysAllocMem,
  hbSysFreeMem,
  hbSysWriteMem,
} from '../src/index.js';
import type { hbSysMem } from '../src/mem.js';
import { timeBatches, timerCostNs } from './measure.js';

const BATCH = 32;

/** Per-call nanoseconds of each batch, for each call. */
export interface CallSamples {
  pair4k: Float64Array;
  write64: Float64Array;
}

/** The board both threads use: the main thread makes it before it starts the worker. */
export async function benchBoard(): Promise<void> {
  await emulator.reset({ heapSize: 64 * 1024 * 1024, pageSize: 4096 });
}

/** Times the calls in this thread, on the board it shares (made by benchBoard). */
export async function timeCalls(ops: number): Promise<CallSamples> {
  const timerNs = timerCostNs();
  const batches = Math.max(1, Math.floor(ops / BATCH));
  const fail = (what: string) => {
    throw new Error(`${what} failed in the thread benchmark`);
  };
  const pair = () => {
    for (let j = 0; j < BATCH; j++) {
      const mem = {} as hbSysMem;
      if (hbSysAllocMem(mem, 4096) !== HB_SYS_SUCCESS) fail('hbSysAllocMem');
      if (hbSysFreeMem(mem) !== HB_SYS_SUCCESS) fail('hbSysFreeMem');
    }
  };
  const target = {} as hbSysMem;
  if (hbSysAllocMem(target, 4096) !== HB_SYS_SUCCESS) fail('hbSysAllocMem');
  const src = new Uint8Array(64).fill(7);
  const write = () => {
    for (let j = 0; j < BATCH; j++) {
      if (hbSysWriteMem(target, src, 64) !== HB_SYS_SUCCESS) fail('hbSysWriteMem');
    }
  };
  // Warm-up, so that each thread's JIT has compiled the loops before they are timed.
  timeBatches(Math.max(1, batches >> 2), BATCH, timerNs, pair);
  timeBatches(Math.max(1, batches >> 2), BATCH, timerNs, write);
  const pair4k = timeBatches(batches, BATCH, timerNs, pair);
  const write64 = timeBatches(batches, BATCH, timerNs, write);
  if (hbSysFreeMem(target) !== HB_SYS_SUCCESS) fail('hbSysFreeMem');
  return { pair4k, write64 };
}
