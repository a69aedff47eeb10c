/**
 * The BPU: one worker thread over physical memory, for every thread of the process. It has
 * no cache: it reads and writes the memory planes only. It takes jobs from the shared ring
 * in order and runs each to its end; it writes each job's status into the mailbox of the
 * thread that submitted it (bpu-queue.ts); a job that throws is reported as a fault there
 * and the worker goes on.
 *
 * Kernels run synchronously. Model jobs (dnn/device.ts) are asynchronous (the ONNX
 * runtime's API is Promise-based), and a thread blocked in Atomics.wait never runs its
 * promises: so the loop awaits a model job to its end, and only waits with Atomics.wait
 * when there is nothing to run, when no promise of ours is pending.
 */

import {
  BroadcastChannel,
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  workerData,
} from 'node:worker_threads';
import {
  type ChannelMessage,
  DEAD,
  ERROR_BYTES,
  GEN,
  GONE,
  GONE_EXITED,
  HEAD,
  HEARTBEAT_AT,
  type JobMessage,
  MAILBOX_DONE,
  MAILBOX_OPEN,
  MESSAGE_JOB,
  mailboxError,
  mailboxStatus,
  NEWS,
  OWNER_WORDS,
  pollWhile,
  READY,
  RING,
  SESSIONS,
  SLOT_WORDS,
  STARTED,
  STATUS_CANCELLED,
  STATUS_FAULT,
  STATUS_OK,
  STOP,
  TAIL,
  threadChannelName,
  type WorkerInit,
} from './bpu-queue.js';
import type { AddressResolver } from './kernels/kernel.js';
import { deviceKernels } from './kernels/registry.js';

if (parentPort === null) throw new Error('bpu-worker runs as a worker thread only');
const init = workerData as WorkerInit;
const control = new Int32Array(init.bpu.control, 0, HEARTBEAT_AT / 4);
const heartbeat = new Float64Array(init.bpu.control, HEARTBEAT_AT, 1);
const slots = new Float64Array(init.bpu.slots);
const owners = new Int32Array(init.bpu.owners);
const cancel = new Int32Array(init.bpu.cancel);
const channel = new BroadcastChannel(init.channel);
channel.unref();
const regions = init.regions.map((r) => ({
  base: r.base,
  size: r.size,
  plane: Buffer.from(r.memory),
}));

/** Each thread's mailbox, as it connected. */
const mailboxes = new Map<number, { words: Int32Array; bytes: Uint8Array }>();
/** Each connected thread's own channel, where its model jobs' descriptions come. */
const threadChannels = new Map<number, BroadcastChannel>();
/** Descriptions of model jobs read off the channel before their job was reached. */
const early = new Map<string, unknown>();
/** Threads known to have ended, and those whose end is news not yet acted on. */
const ended = new Set<number>();
const endedNews: number[] = [];
/** The NEWS word as last acted on. */
let newsSeen = 0;

// Threads waiting for a job learn that this worker is gone (when it ends by itself; when it
// is terminated, the thread that started it says so, see bpu.ts).
process.on('exit', () => {
  if (Atomics.load(control, GONE) === 0) Atomics.store(control, GONE, GONE_EXITED);
  Atomics.store(control, DEAD, 1);
  Atomics.notify(control, TAIL);
  for (const box of mailboxes.values()) Atomics.notify(box.words, MAILBOX_DONE);
});

/** Keeps a message of a channel until its job is reached (or its thread's first job). */
function take(m: ChannelMessage | JobMessage): void {
  if (m.kind === 'connect') connect(m.thread, m.mailbox);
  else if (m.kind === 'ended') endedNews.push(m.thread);
  else early.set(`${m.thread}:${m.seq}`, m.message);
}

/**
 * Takes `thread`'s mailbox and opens its own channel, then says so in the mailbox: the
 * thread posts its model jobs there from then on, and on this worker's channel before (a
 * BroadcastChannel delivers only to channels that exist when a message is posted).
 */
function connect(thread: number, mailbox: SharedArrayBuffer): void {
  const words = new Int32Array(mailbox);
  mailboxes.set(thread, { words, bytes: new Uint8Array(mailbox) });
  if (!threadChannels.has(thread)) {
    const own = new BroadcastChannel(threadChannelName(init.channel, thread));
    own.unref();
    own.onmessage = delivered;
    threadChannels.set(thread, own);
  }
  Atomics.store(words, MAILBOX_OPEN, 1);
}

// While a model job is awaited the event loop runs, and it delivers what arrives on the
// channels as events: a message it delivered is no longer there for receiveMessageOnPort,
// so the events keep it too. (Without this, a thread that connected or posted a model job
// while another thread's model loaded was never answered.)
function delivered(event: unknown): void {
  take((event as MessageEvent).data as ChannelMessage | JobMessage);
}
channel.onmessage = delivered;

const beat = () => {
  heartbeat[0] = Date.now();
};
beat();
// The channel exists: threads may post to it now (a BroadcastChannel delivers only to
// channels that exist when a message is posted).
Atomics.store(control, READY, init.gen);
Atomics.notify(control, READY);
// While a model job is awaited the loop runs: the heartbeat goes on.
setInterval(beat, 1000).unref();

const resolve: AddressResolver = (phyAddr, size) => {
  for (const r of regions) {
    if (phyAddr >= r.base && phyAddr + size <= r.base + r.size) {
      return { plane: r.plane, offset: phyAddr - r.base };
    }
  }
  throw new RangeError(
    `no physical memory at 0x${phyAddr.toString(16).padStart(8, '0')} (+${size} bytes)`,
  );
};

type ModelDevice = typeof import('./dnn/device.js');
let modelDevice: ModelDevice | undefined;

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Reads the channel until `found` says what is wanted arrived. A message is posted before
 * its job enters the ring, so it is there; the bounded retry only covers its delivery.
 */
function readChannel(found: () => boolean): boolean {
  for (let attempt = 0; attempt < 2000; attempt++) {
    drainChannel();
    if (found()) return true;
    Atomics.wait(pause, 0, 0, 1);
  }
  return false;
}

/** Takes what the channels hold now: the worker's, then each thread's own. */
function drainChannel(): void {
  drain(channel);
  for (const own of threadChannels.values()) drain(own);
}

function drain(from: BroadcastChannel): void {
  for (;;) {
    // Node reads a BroadcastChannel as a port (its types name MessagePort only).
    const r = receiveMessageOnPort(from as unknown as MessagePort);
    if (r === undefined) return;
    take(r.message as ChannelMessage | JobMessage);
  }
}

/**
 * Acts on the news of threads that ended, between jobs (none of theirs runs): their models
 * are unloaded, their mailboxes dropped, and their jobs still in the ring (each thread that
 * learns of an end also cancels them, see Bpu.threadEnded) are skipped from here on; and
 * threads that connect get their channels. A thread that posts either bumps NEWS after
 * posting, so that a job's turn costs one load when there is none.
 */
async function actOnNews(): Promise<void> {
  newsSeen = Atomics.load(control, NEWS);
  drainChannel();
  while (endedNews.length > 0) {
    const thread = endedNews.shift()!;
    ended.add(thread);
    mailboxes.delete(thread);
    // Its descriptions are never needed now: those delivered are dropped, the rest with
    // the channel.
    const own = threadChannels.get(thread);
    if (own !== undefined) {
      drain(own);
      own.close();
      threadChannels.delete(thread);
    }
    for (const key of early.keys()) if (key.startsWith(`${thread}:`)) early.delete(key);
    if (modelDevice !== undefined) await modelDevice.unloadThread(thread);
  }
  countSessions();
}

function newsWaits(): boolean {
  return Atomics.load(control, NEWS) !== newsSeen || endedNews.length > 0;
}

function countSessions(): void {
  Atomics.store(control, SESSIONS, modelDevice?.liveSessions() ?? 0);
}

function mailboxOf(thread: number) {
  if (!mailboxes.has(thread)) readChannel(() => mailboxes.has(thread));
  return mailboxes.get(thread);
}

function descriptionOf(thread: number, seq: number): unknown {
  const key = `${thread}:${seq}`;
  if (!early.has(key)) readChannel(() => early.has(key));
  const m = early.get(key);
  early.delete(key);
  if (m === undefined) throw new Error('the model job arrived without its description');
  return m;
}

type Box = NonNullable<ReturnType<typeof mailboxOf>>;

function fault(box: Box, seq: number, error: unknown): number {
  const text = Buffer.from(String(error instanceof Error ? error.message : error)).subarray(
    0,
    ERROR_BYTES - 4,
  );
  const at = mailboxError(seq);
  box.bytes.set(text, at + 4);
  new DataView(box.bytes.buffer).setInt32(at, text.byteLength, true);
  return STATUS_FAULT;
}

function runKernel(box: Box, seq: number, slot: number, index: number): number {
  const at = slot * SLOT_WORDS;
  const kernel = deviceKernels[index];
  try {
    if (kernel === undefined) throw new Error(`unknown kernel index ${index}`);
    kernel.run(resolve, slots.subarray(at + 1, at + SLOT_WORDS));
    return STATUS_OK;
  } catch (error) {
    return fault(box, seq, error);
  }
}

async function runMessageJob(box: Box, thread: number, seq: number): Promise<number> {
  try {
    const message = descriptionOf(thread, seq);
    modelDevice ??= await import('./dnn/device.js');
    await modelDevice.runModelJob(message, resolve, thread);
    return STATUS_OK;
  } catch (error) {
    return fault(box, seq, error);
  } finally {
    countSessions();
  }
}

async function serve(): Promise<void> {
  for (;;) {
    const done = Atomics.load(control, TAIL);
    // The next job of a burst, taken without a kernel wake (see pollWhile).
    pollWhile(control, HEAD, done);
    while (Atomics.load(control, HEAD) === done) {
      if (Atomics.load(control, STOP) !== 0) process.exit(0);
      beat();
      if (newsWaits()) await actOnNews();
      // A thread that posts news wakes this wait too (HEAD is notified, not moved).
      Atomics.wait(control, HEAD, done, 1000);
    }
    if (Atomics.load(control, STOP) !== 0) process.exit(0);
    // Taken for gone (its starter ended) while it still ran: the ring is the next one's.
    if (Atomics.load(control, GEN) !== init.gen) process.exit(0);
    beat();
    if (newsWaits()) await actOnNews();
    const slot = done % RING;
    const index = slots[slot * SLOT_WORDS]!;
    const thread = owners[slot * OWNER_WORDS]!;
    const seq = owners[slot * OWNER_WORDS + 1]!;
    // A thread that ended has no mailbox: nobody can learn its job's outcome, and the
    // memory the job names may be another's by now (its held ranges were let go).
    const box = ended.has(thread) ? undefined : mailboxOf(thread);
    // Started before the mark is read: a cancel that sees this leaves the job to run.
    Atomics.store(control, STARTED, done + 1);
    let status: number;
    if (box === undefined) {
      // Its thread ended (or, which cannot happen, never connected: a thread connects
      // before its first job): it never runs. A model job's description went with the
      // thread's channel.
      Atomics.store(cancel, slot, 0);
      status = STATUS_CANCELLED;
    } else if (Atomics.exchange(cancel, slot, 0) !== 0) {
      // Its task was released before it started: as the board does, it never runs. A message
      // job's description is still taken off the channel.
      if (index === MESSAGE_JOB) {
        try {
          descriptionOf(thread, seq);
        } catch {}
      }
      status = STATUS_CANCELLED;
    } else if (index === MESSAGE_JOB) {
      status = await runMessageJob(box, thread, seq);
    } else {
      status = runKernel(box, seq, slot, index);
    }
    if (box !== undefined) {
      box.words[mailboxStatus(seq)] = status;
      Atomics.add(box.words, MAILBOX_DONE, 1);
      Atomics.notify(box.words, MAILBOX_DONE);
    }
    Atomics.store(control, TAIL, done + 1);
    Atomics.notify(control, TAIL);
  }
}

void serve();
