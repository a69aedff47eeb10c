/**
 * The BPU job queue in shared memory, as both sides see it. The main thread writes a job
 * into a ring slot and bumps HEAD (Atomics.notify); the worker runs it, writes its status
 * and bumps TAIL (Atomics.notify); the main thread learns of completions with
 * Atomics.waitAsync on TAIL. No message crosses per job, and none per byte.
 */

import { MAX_PARAMS } from './kernels/kernel.js';

/** Jobs the ring holds at once; more wait in the main thread, in order. */
export const RING = 256;
/** Words per slot: the kernel index, then its parameters. */
export const SLOT_WORDS = 1 + MAX_PARAMS;
/** Bytes of error text a failed job can return. */
export const ERROR_BYTES = 512;

/** Indices in the control Int32Array. */
export const HEAD = 0;
export const TAIL = 1;
export const STOP = 2;

export const STATUS_OK = 0;
export const STATUS_FAULT = 1;

/** The shared buffers of one queue. */
export interface QueueBuffers {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  status: SharedArrayBuffer;
  errorText: SharedArrayBuffer;
}

/** One physical region as the worker sees it: its base address and its memory plane. */
export interface WorkerRegion {
  base: number;
  size: number;
  memory: SharedArrayBuffer;
}

/** What the worker is started with. */
export interface WorkerInit {
  queue: QueueBuffers;
  regions: WorkerRegion[];
}

export function newQueueBuffers(): QueueBuffers {
  return {
    control: new SharedArrayBuffer(16 * 4),
    slots: new SharedArrayBuffer(RING * SLOT_WORDS * 8),
    status: new SharedArrayBuffer(RING * 4 * 2),
    errorText: new SharedArrayBuffer(RING * ERROR_BYTES),
  };
}
