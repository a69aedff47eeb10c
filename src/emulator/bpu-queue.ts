/**
 * The BPU job queue in shared memory, as both sides see it. The main thread writes a job
 * into a ring slot and bumps HEAD (Atomics.notify); the worker runs it, writes its status
 * and bumps TAIL (Atomics.notify); the main thread learns of completions with
 * Atomics.waitAsync on TAIL. No message crosses per job, and none per byte.
 *
 * Model jobs (load a model, run a task) carry more than a slot holds: their slot names
 * {@link MESSAGE_JOB}, and their description crosses on a MessagePort, posted before the job
 * enters the ring, which the worker reads synchronously (receiveMessageOnPort) when it
 * reaches the job. Jobs of both kinds share the ring, so they run in submission order.
 */

import type { MessagePort } from 'node:worker_threads';
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
/** Set by the worker as it exits, so that a thread blocked waiting for it can tell. */
export const DEAD = 3;
/** Jobs the worker has started (TAIL counts those it finished): a cancel checks it. */
export const STARTED = 4;

/** The kernel index of a job whose description came as a message (a model job). */
export const MESSAGE_JOB = -1;

export const STATUS_OK = 0;
export const STATUS_FAULT = 1;
/** The job was cancelled (its task released) before it started: it did nothing. */
export const STATUS_CANCELLED = 2;

/** The shared buffers of one queue. */
export interface QueueBuffers {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  status: SharedArrayBuffer;
  errorText: SharedArrayBuffer;
  /** Per slot: 1 when the job there must not start (its task was released). */
  cancel: SharedArrayBuffer;
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
  /** Where the descriptions of message jobs arrive. */
  port: MessagePort;
}

export function newQueueBuffers(): QueueBuffers {
  return {
    control: new SharedArrayBuffer(16 * 4),
    slots: new SharedArrayBuffer(RING * SLOT_WORDS * 8),
    status: new SharedArrayBuffer(RING * 4 * 2),
    errorText: new SharedArrayBuffer(RING * ERROR_BYTES),
    cancel: new SharedArrayBuffer(RING * 4),
  };
}
