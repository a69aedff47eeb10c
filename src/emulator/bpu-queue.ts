/**
 * The BPU job queue in shared memory, as every thread and the worker see it. One BPU worker
 * serves every thread of the process (as one BPU serves every thread on the board), so the
 * queue is multi-producer: a thread writes a job into the ring slot at HEAD under the
 * board's lock and bumps HEAD (Atomics.notify); the worker, the one consumer, runs jobs in
 * ring order, writes each one's status into the mailbox of the thread that submitted it,
 * and bumps TAIL. A thread learns of its own completions by watching its mailbox's DONE word
 * (Atomics.waitAsync, or Atomics.wait when blocked in hbDNNWaitTaskDone). No message crosses
 * per kernel job, and none per byte.
 *
 * What crosses as messages:
 * - on the worker's BroadcastChannel, which only the worker keeps open: each thread's
 *   mailbox (once per worker, before its first job) and the news that a thread ended (its
 *   models are unloaded, its mailbox dropped, its jobs still in the ring skipped);
 * - on each thread's own channel, which the worker opens when the thread connects: the
 *   descriptions of that thread's model jobs (load a model, run a task), which carry more
 *   than a slot holds. Until the worker has opened it (it says so in the thread's mailbox),
 *   they go on the worker's channel, opened for the post alone: nothing waits for the
 *   worker, which may be in a long job. The worker's channel is kept open by the worker
 *   alone, because a BroadcastChannel clones each message for every other channel of its
 *   name: when every thread kept it open, every thread received (and held, while its event
 *   loop did not turn) every other thread's model bytes and tensors; and a channel per
 *   thread, kept open, because opening one for each post costs tens of microseconds.
 * BroadcastChannels because any thread can open one by name, with no port to hand over from
 * the thread that started the worker (ports cross only on a channel that already exists,
 * and a thread started before the worker has none). The worker reads them synchronously
 * (receiveMessageOnPort) when it reaches the job; messages are matched to jobs by (thread,
 * sequence).
 */

import { MAX_PARAMS } from './kernels/kernel.js';
import { newThreadTree } from './thread-tree.js';

/**
 * How long a waiter polls before it sleeps: the worker for the next job after the last, a
 * thread blocked in hbDNNWaitTaskDone for its job's end. A thread that sleeps in
 * Atomics.wait is woken by the kernel, and on a virtual machine whose other core is idle
 * that wake takes tens of microseconds. Measured on this project's 2-core machine
 * (2026-12-07), without polling:
 * - a 4 KiB copy awaited in a loop took 10 to 20 µs a job in some runs and 70 to 106 µs in
 *   others, the slow ones waiting for the worker's wake;
 * - a trivial model task (submit, wait, release, in a loop) took 166 µs: the worker was
 *   asleep at most submits, and the waiter at most completions, at about 60 to 80 µs a wake.
 * A pipeline's jobs come in bursts (submit, wait, submit the next), so each side polls long
 * enough to see the other's next step through a burst. Shorter polls were worse there: at
 * 0.1 and 0.25 ms the two sides fell asleep in turn, and the task took 80 to 620 µs by run.
 * At 0.5 ms the task took 59 to 90 µs, and the copy from a worker 1.0 to 1.5 times the copy
 * from the main thread in every run. What it costs: half a millisecond of a core at the end
 * of each burst, nothing while jobs keep coming; and on two cores the poll competes with
 * the thread it waits for, so the awaited copy's median rose from 16-20 µs to 19-35 µs and
 * its p99 from 0.2-0.7 ms to about 0.55 ms.
 */
export const POLL_MS = 0.5;

/**
 * Reads `words[index]` until it is no longer `value` or `ms` (at most {@link POLL_MS}) has
 * passed; returns whether it changed. The caller then sleeps (Atomics.wait) only when it
 * did not.
 */
export function pollWhile(words: Int32Array, index: number, value: number, ms = POLL_MS): boolean {
  const until = performance.now() + Math.min(ms, POLL_MS);
  while (Atomics.load(words, index) === value) {
    if (performance.now() >= until) return false;
  }
  return true;
}

/** Jobs the ring holds at once; a thread that finds it full waits for room. */
export const RING = 1024;
/** Words per slot: the kernel index, then its parameters. */
export const SLOT_WORDS = 1 + MAX_PARAMS;
/** Bytes of error text a failed job can return. */
export const ERROR_BYTES = 512;

/** Indices in the control Int32Array. */
export const HEAD = 0;
export const TAIL = 1;
/** Set by emulator.reset() in the thread that made the machine: the worker ends. */
export const STOP = 2;
/** Set when the worker has ended (or is known to be gone), so that waiting threads can tell. */
export const DEAD = 3;
/** Jobs the worker has started (TAIL counts those it finished): a cancel checks it. */
export const STARTED = 4;
/** Which worker this is: 0 before the first, then +1 for each one started. */
export const GEN = 5;
/** The threadId of the thread that started the current worker. */
export const STARTER = 6;
/** BPU workers started on this machine so far (one, unless one died). */
export const STARTS = 7;
/** Process-wide ids of jobs, tasks and models (their numbers in messages, sessions). */
export const NEXT_ID = 8;
/** Why the worker is gone: one of the GONE_ codes. */
export const GONE = 9;
/** The generation whose worker has opened its channel (threads post to it only then). */
export const READY = 10;
/** ONNX runtime sessions the worker holds (loaded models not unloaded), for stats and tests. */
export const SESSIONS = 11;
/** Bumped by a thread that posted the news of a thread's end, so that the worker reads it. */
export const NEWS = 12;
/** Words of the control block (Int32), then the heartbeat (Float64, Date.now()). */
const CONTROL_WORDS = 16;
export const HEARTBEAT_AT = CONTROL_WORDS * 4;

export const GONE_EXITED = 1;
export const GONE_STARTER_ENDED = 2;
export const GONE_STOPPED = 3;

/** The kernel index of a job whose description came as a message (a model job). */
export const MESSAGE_JOB = -1;

export const STATUS_OK = 0;
export const STATUS_FAULT = 1;
/** The job was cancelled (its task released) before it started: it did nothing. */
export const STATUS_CANCELLED = 2;

/** Per ring slot, in `owners`: the submitting thread and its sequence number there. */
export const OWNER_WORDS = 2;

/** The BPU's shared part of the board: every thread submits through it. */
export interface BpuShare {
  readonly control: SharedArrayBuffer;
  readonly slots: SharedArrayBuffer;
  readonly owners: SharedArrayBuffer;
  /** Per slot: 1 when the job there must not start (its task was released). */
  readonly cancel: SharedArrayBuffer;
  /** The BroadcastChannel name's stem (the generation is appended). */
  readonly channel: string;
  /** Which thread made which worker thread (thread-tree.ts), for the ends nobody sees. */
  readonly threads: SharedArrayBuffer;
}

/**
 * A thread's mailbox: DONE (its jobs the worker completed, in its submission order), then
 * per job (its sequence modulo {@link RING}) a status word, then the error texts.
 */
export const MAILBOX_DONE = 0;
/** Set (1) by the worker once it has opened the thread's own channel: posts reach it now. */
export const MAILBOX_OPEN = 1;
const MAILBOX_HEADER = 4;
export const mailboxStatus = (seq: number) => MAILBOX_HEADER + (seq % RING);
export const mailboxError = (seq: number) =>
  (MAILBOX_HEADER + RING) * 4 + (seq % RING) * ERROR_BYTES;

export function newMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer((MAILBOX_HEADER + RING) * 4 + RING * ERROR_BYTES);
}

/** What crosses the worker's channel. */
export type ChannelMessage =
  | { readonly kind: 'connect'; readonly thread: number; readonly mailbox: SharedArrayBuffer }
  /** `thread` ended (the thread that made its Worker saw it exit). */
  | { readonly kind: 'ended'; readonly thread: number };

/** What crosses a thread's own channel: the description of its model job `seq`. */
export interface JobMessage {
  readonly kind: 'job';
  readonly thread: number;
  readonly seq: number;
  readonly message: unknown;
}

/** One physical region as the worker sees it: its base address and its memory plane. */
export interface WorkerRegion {
  base: number;
  size: number;
  memory: SharedArrayBuffer;
}

/** What the worker is started with. */
export interface WorkerInit {
  bpu: BpuShare;
  /** The name of the channel of this worker (the share's stem and its generation). */
  channel: string;
  /** Its generation (GEN). */
  gen: number;
  regions: WorkerRegion[];
}

let shares = 0;

export function newBpuShare(): BpuShare {
  return {
    control: new SharedArrayBuffer(CONTROL_WORDS * 4 + 8),
    slots: new SharedArrayBuffer(RING * SLOT_WORDS * 8),
    owners: new SharedArrayBuffer(RING * OWNER_WORDS * 4),
    cancel: new SharedArrayBuffer(RING * 4),
    threads: newThreadTree(),
    channel: `hbsys.bpu.${process.pid}.${Math.random().toString(36).slice(2)}.${shares++}`,
  };
}

/** The channel name of generation `gen` of a share's worker. */
export function channelName(share: BpuShare, gen: number): string {
  return `${share.channel}.${gen}`;
}

/** The name of `thread`'s own channel to the worker whose channel is `workerChannel`. */
export function threadChannelName(workerChannel: string, thread: number): string {
  return `${workerChannel}.t${thread}`;
}
