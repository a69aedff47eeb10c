/**
 * The emulated BPU, a thread's side: checks and submits jobs; the device work runs in one
 * worker thread (bpu-worker.ts) over physical memory, for every thread of the process.
 *
 * Every job declares the ranges it reads and writes (its kernel's plan). Each must lie
 * inside one live allocation or VIO buffer (which covers every registration), or the job
 * rejects with a BpuFaultError naming the address, and the BPU goes on with later jobs.
 * The sanitizer looks at the same ranges: CPU writes never CLEANed that the job would read,
 * lines the CPU dirtied that the job writes. Jobs of every thread run in one submission
 * order (the shared ring of bpu-queue.ts, entered under the board's lock); each completes
 * in the thread that submitted it.
 *
 * Lifetime: the worker starts with the first job of any thread; that thread owns it (a
 * Worker belongs to the thread that made it), the others connect to it through the board.
 * A thread keeps the process alive only while its own jobs are in flight, so a program that
 * forgets to await its jobs still exits once they are done. `stop()` (on reset, in the
 * thread that made the machine) ends it and rejects what has not run, in every thread.
 * When the worker ends otherwise (it died, or the thread that started it ended, which ends
 * it too), every thread's jobs not completed reject saying so, and the next job of any
 * thread starts a new worker (models must then be loaded again).
 *
 * A thread that ends leaves nothing behind (see {@link Bpu.threadEnded}): its models are
 * unloaded from the worker, its jobs not started never run, and its rows of the board's
 * tables (memory its tasks hold, ranges of its jobs in flight) go once no job of it runs.
 * The thread that made its Worker sees it end (the Worker's 'exit' event, the one sign of a
 * `worker.terminate()`, which runs no code in the thread it ends), and the thread itself,
 * as it exits normally, cancels its jobs and leaves its rows. A thread's own workers end
 * with it, and nobody is left to see them go: the thread that sees it end takes its
 * recorded descendants too (thread-tree.ts). Not seen: a thread made by a thread where hbsys
 * has no machine: its rows go if it exits normally, its models stay loaded until a reset.
 */

import { BroadcastChannel, isMainThread, threadId, Worker } from 'node:worker_threads';
import { hex } from '../handle-errors.js';
import { HB_SYS_INVALID_ARGUMENT, HbSysError } from '../status.js';
import {
  type BpuShare,
  type ChannelMessage,
  channelName,
  DEAD,
  GEN,
  GONE,
  GONE_EXITED,
  GONE_STARTER_ENDED,
  GONE_STOPPED,
  HEAD,
  HEARTBEAT_AT,
  type JobMessage,
  MAILBOX_DONE,
  MAILBOX_OPEN,
  MESSAGE_JOB,
  mailboxError,
  mailboxStatus,
  NEWS,
  NEXT_ID,
  newMailbox,
  OWNER_WORDS,
  pollWhile,
  READY,
  RING,
  SESSIONS,
  SLOT_WORDS,
  STARTED,
  STARTER,
  STARTS,
  STATUS_CANCELLED,
  STATUS_OK,
  STOP,
  TAIL,
  threadChannelName,
  type WorkerInit,
} from './bpu-queue.js';
import type { DeviceRange, JobPlan } from './kernels/kernel.js';
import {
  isKernelName,
  type KernelArgs,
  type KernelName,
  kernelNames,
  kernels,
} from './kernels/registry.js';
import type { InFlightJob, InputSnapshot, Machine } from './machine.js';
import type { Region } from './physical-memory.js';
import { SharedRanges } from './shared-ranges.js';
import { ThreadTree } from './thread-tree.js';

/** A device access that no live memory covers, or a job that faulted on the device. */
export class BpuFaultError extends Error {
  /** Start of the range the job touched. */
  readonly phyAddr: bigint;
  /** Bytes of that range. */
  readonly size: number;
  /** A fault at `[phyAddr, phyAddr + size)`; the BPU makes these, programs catch them. */
  constructor(message: string, phyAddr: bigint, size: number) {
    super(message);
    this.name = 'BpuFaultError';
    this.phyAddr = phyAddr;
    this.size = size;
  }
}

/** A range a job writes, resolved once at submission to its region and offset. */
export interface DeviceWrite {
  readonly region: Region;
  readonly offset: number;
  readonly size: number;
}

interface Job extends InFlightJob {
  readonly kernelIndex: number;
  readonly plan: JobPlan;
  readonly writes: readonly DeviceWrite[];
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** A model job's description, posted to the worker as the job enters the ring. */
  readonly message?: unknown;
  /** Called as the job settles, synchronously (a blocked waiter has no event loop). */
  readonly onSettle?: (outcome: JobOutcome) => void;
  /** Its index in the ring's sequence once handed to the worker, else -1. */
  sequence: number;
  /** The worker generation it was handed to. */
  gen: number;
  outcome: JobOutcome | undefined;
  readonly done: Promise<void>;
}

/** How a job ended: ran to its end, faulted (with the reason), or never ran. */
export type JobOutcome =
  | { readonly state: 'ok' }
  | { readonly state: 'fault' | 'cancelled' | 'lost'; readonly message: string };

/** A job submitted with {@link Bpu.submitJob}, for waiting on it and cancelling it. */
export interface DeviceJob {
  readonly id: number;
  /** Resolves when it ran to its end; rejects (BpuFaultError or Error) otherwise. */
  readonly done: Promise<void>;
  /** Undefined until the job settles. */
  readonly outcome: JobOutcome | undefined;
}

/** What {@link Bpu.submitJob} takes: a planned job, by kernel index or as a message. */
export interface JobSpec {
  /** An index of `deviceKernels`, or MESSAGE_JOB with `message`. */
  readonly kernelIndex: number;
  readonly plan: JobPlan;
  readonly where: string;
  readonly writes: readonly DeviceWrite[];
  readonly message?: unknown;
  readonly onSettle?: (outcome: JobOutcome) => void;
  /** What the program calls to learn that it completed, for the sanitizer's messages. */
  readonly completion?: string;
}

/** The largest uncached input copied at submission to see raw CPU writes to it in flight. */
const MAX_INPUT_COPY = 4 << 20;

/** The longest single block of a waiting thread, so that it notices a worker that is gone. */
const WAIT_SLICE_MS = 50;

/**
 * A worker whose heartbeat is older than this is taken for gone: it ended with the thread
 * that started it, and nobody could say so (that thread was terminated, and the thread
 * that made it had no machine, or ended too; see starterEnded). Generous: a long
 * synchronous kernel, or a worker starting under emulation, beats no heart.
 */
const SILENT_MS = 30_000;

/**
 * How long after a thread was asked to end (worker.terminate()) a thread waiting for the
 * board's lock takes a lock it still holds as left behind. A thread asked to end runs no
 * more JavaScript once the engine stops it, which it does at once, except inside a copy or
 * fill of the engine's (it stops after that). A second outlasts those on a native host;
 * one still running then (a very large buffer under emulation) finishes beside the thread
 * that took the lock, in memory the ended call was writing, which it had half done anyway.
 */
const TERMINATED_HOLDER_MS = 1000;

type WaitAsync = (
  a: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** This thread's connection to one worker (one generation). */
interface Device {
  readonly gen: number;
  /** The Worker, when this thread started it. */
  readonly worker: Worker | undefined;
  readonly mailbox: Int32Array;
  readonly mailboxBytes: Uint8Array;
  /** Where this thread's model jobs' descriptions go. */
  readonly channel: BroadcastChannel;
  /** This thread's jobs handed to the ring, oldest first. */
  running: Job[];
  /** This thread's jobs handed to this worker, and those it settled. */
  submitted: number;
  completed: number;
  waiting: boolean;
}

/** A BPU worker started on `board` by some thread, to count them (tests, the one-BPU rule). */
export function bpuWorkersStarted(share: BpuShare): number {
  return Atomics.load(new Int32Array(share.control), STARTS);
}

export class Bpu {
  private readonly machine: Machine;
  private readonly share: BpuShare;
  private readonly control: Int32Array;
  private readonly heartbeat: Float64Array;
  private readonly slots: Float64Array;
  private readonly owners: Int32Array;
  private readonly cancelMarks: Int32Array;
  private device: Device | undefined;
  private stopped = false;
  /** Holds the thread's event loop open while its jobs are in flight. */
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  /** The board's tables a thread that ends leaves (see threadEnded). */
  private readonly held: SharedRanges;
  private readonly inFlight: SharedRanges;
  /** Which thread made which worker thread. */
  private readonly tree: ThreadTree;

  constructor(machine: Machine) {
    this.machine = machine;
    this.share = machine.board.share.bpu;
    this.control = new Int32Array(this.share.control, 0, HEARTBEAT_AT / 4);
    this.heartbeat = new Float64Array(this.share.control, HEARTBEAT_AT, 1);
    this.slots = new Float64Array(this.share.slots);
    this.owners = new Int32Array(this.share.owners);
    this.cancelMarks = new Int32Array(this.share.cancel);
    this.held = new SharedRanges(machine.board.share.held);
    this.inFlight = new SharedRanges(machine.board.share.inFlight);
    this.tree = new ThreadTree(this.share.threads);
    machine.board.abandoned = (thread) =>
      this.tree.terminatedFor(thread, Date.now()) >= TERMINATED_HOLDER_MS;
    watchThreadEnds(this);
  }

  /** Models loaded in the worker (ONNX runtime sessions), of every thread. @internal */
  get liveSessions(): number {
    const c = this.control;
    if (Atomics.load(c, GEN) === 0 || Atomics.load(c, DEAD) !== 0) return 0;
    return Atomics.load(c, SESSIONS);
  }

  /**
   * `thread` ended (`self`: this is it, exiting): what it left goes. Its jobs not started are
   * cancelled (the worker skips them); the worker is told (not by `thread` itself, see
   * below), and unloads its models; its rows
   * of the board's tables go at once, or, when a job of it is running (a thread terminated
   * mid-job), once that job has ended: until then the BPU may still write the memory they
   * name, and a free of it stays refused. @internal
   */
  threadEnded(thread: number, self: boolean): void {
    const board = this.machine.board;
    if (this.stopped || board.retired) return;
    if (!self) {
      // Terminated inside a call, it may have left the lock taken, and so may the workers
      // that ended with it: let it go before anything here takes it (this thread would
      // wait forever, and the release comes from its events).
      board.releaseIfHeldBy(thread);
      for (const d of this.tree.descendantsOf(thread)) board.releaseIfHeldBy(d);
      // Its workers ended with it, unseen: they end here too (thread-tree.ts).
      for (const d of board.locked(() => this.tree.takeDescendants(thread))) {
        this.threadEnded(d, false);
      }
    }
    const c = this.control;
    const gen = Atomics.load(c, GEN);
    let running = -1;
    board.locked(() => {
      if (!self && gen !== 0 && Atomics.load(c, STARTER) === thread) this.starterEnded();
      if (gen !== 0 && Atomics.load(c, DEAD) === 0) {
        running = this.cancelThread(thread);
        // Not from the thread that is exiting: a BroadcastChannel post as a worker thread
        // ends was seen to leave that end, or the next one, hanging. The thread that made
        // its Worker posts it (its 'exit' comes once the thread is gone).
        if (!self) this.postEnded(thread, gen);
      }
      if (running < 0) this.leaveRows(thread);
    });
    if (running < 0) return;
    const over = () =>
      Atomics.load(c, TAIL) > running ||
      Atomics.load(c, GEN) !== gen ||
      Atomics.load(c, DEAD) !== 0 ||
      this.silent();
    const leave = () => {
      if (!this.stopped && !board.retired) board.locked(() => this.leaveRows(thread));
    };
    if (self) {
      // Exiting: no event loop to come back to; the job is the one wait.
      while (!over()) Atomics.wait(c, TAIL, Atomics.load(c, TAIL), WAIT_SLICE_MS);
      leave();
      return;
    }
    const step = () => {
      if (over()) {
        leave();
        return;
      }
      const r = waitAsync(c, TAIL, Atomics.load(c, TAIL), 1000);
      if (r.async) r.value.then(step);
      else setImmediate(step);
    };
    step();
  }

  /** This thread exits: the board's lock, if this thread holds it (inside a call), goes. */
  exiting(): void {
    this.machine.board.leaveCall();
  }

  /** `thread` (a worker this thread made) is asked to end: see thread-tree.ts. */
  terminating(thread: number): void {
    if (!this.stopped && !this.machine.board.retired) this.tree.terminating(thread, Date.now());
  }

  /** This thread made the worker thread `thread`: recorded for the day this one ends. */
  madeWorker(thread: number): void {
    const board = this.machine.board;
    if (this.stopped || board.retired) return;
    board.locked(() => this.tree.record(thread, threadId));
  }

  /**
   * The thread that started the BPU worker ended: the worker ended with it (a thread's
   * workers end with it). A thread that returns says so itself as it exits; one that was
   * terminated runs no more code, and without this word every thread's jobs waited for
   * the worker's heartbeat to fall silent (SILENT_MS). Under the lock.
   */
  private starterEnded(): void {
    const c = this.control;
    if (Atomics.load(c, DEAD) !== 0) return;
    Atomics.store(c, GONE, GONE_STARTER_ENDED);
    Atomics.store(c, DEAD, 1);
    Atomics.notify(c, TAIL);
    Atomics.notify(c, READY);
    const d = this.device;
    if (d !== undefined && d.gen === Atomics.load(c, GEN)) this.loseDevice(d, this.deathMessage());
  }

  /**
   * Cancels `thread`'s jobs in the ring that have not started (as {@link cancel} does one).
   * Returns the sequence of its job that has started and may be running, or -1. Under the lock.
   */
  private cancelThread(thread: number): number {
    const c = this.control;
    let running = -1;
    const head = Atomics.load(c, HEAD);
    for (let seq = Atomics.load(c, TAIL); seq < head; seq++) {
      const slot = seq % RING;
      if (this.owners[slot * OWNER_WORDS] !== thread) continue;
      Atomics.store(this.cancelMarks, slot, 1);
      if (Atomics.load(c, STARTED) > seq) {
        Atomics.compareExchange(this.cancelMarks, slot, 1, 0);
        running = seq;
      }
    }
    return running;
  }

  /** Tells the worker of `gen` that `thread` ended. Under the lock. */
  private postEnded(thread: number, gen: number): void {
    const c = this.control;
    // A worker not ready yet has no job, nor model, of a thread that ended before.
    if (Atomics.load(c, READY) < gen) return;
    this.postNews(gen, { kind: 'ended', thread });
  }

  /**
   * Posts `news` on the worker's channel, and wakes the worker to read it. The channel is
   * opened for the post alone: a thread that kept it open would receive every other
   * thread's messages too. Under the lock.
   */
  private postNews(gen: number, news: ChannelMessage | JobMessage): void {
    const c = this.control;
    const channel = new BroadcastChannel(channelName(this.share, gen));
    channel.postMessage(news);
    channel.close();
    Atomics.add(c, NEWS, 1);
    // Wakes an idle worker (HEAD is notified, not moved).
    Atomics.notify(c, HEAD);
  }

  /** Removes `thread`'s rows of the held and in-flight tables. Under the lock. */
  private leaveRows(thread: number): void {
    this.held.removeThread(thread);
    this.inFlight.removeThread(thread);
  }

  /** Runs `kernel` with `args`; resolves when the device has finished. */
  run<K extends KernelName>(kernel: K, args: KernelArgs[K]): Promise<void> {
    return this.submit(kernel, args, `bpu.run('${String(kernel)}')`);
  }

  /** DMA: copy `size` bytes from `src` to `dst` (physical addresses). */
  copy(dst: bigint, src: bigint, size: number): Promise<void> {
    return this.submit('copy', { dst, src, size }, 'bpu.copy');
  }

  /** DMA: fill `size` bytes at `dst` with `byte`. */
  fill(dst: bigint, byte: number, size: number): Promise<void> {
    return this.submit('fill', { dst, value: byte, size }, 'bpu.fill');
  }

  /** The worker thread, while one runs that this thread started. @internal */
  get worker(): Worker | undefined {
    return this.device?.worker;
  }

  /** BPU workers started on this machine so far, by every thread. @internal */
  get workersStarted(): number {
    return Atomics.load(this.control, STARTS);
  }

  /** A process-wide id (jobs, tasks, models): unique across the threads of the machine. */
  nextId(): number {
    return Atomics.add(this.control, NEXT_ID, 1) + 1;
  }

  /** This thread's jobs submitted and not completed. */
  get pending(): number {
    return this.device?.running.length ?? 0;
  }

  /**
   * Ends the worker (reset, in the thread that made the machine); every job not completed
   * rejects, in every thread. Later submissions reject too.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const c = this.control;
    // Why first: a thread that sees the worker gone reads why it went.
    if (Atomics.load(c, GEN) !== 0) {
      Atomics.store(c, GONE, GONE_STOPPED);
      Atomics.store(c, DEAD, 1);
    }
    Atomics.store(c, STOP, 1);
    Atomics.notify(c, HEAD);
    Atomics.notify(c, TAIL);
    this.shutDevice(resetError);
  }

  private submit(kernel: KernelName, args: unknown, where: string): Promise<void> {
    const board = this.machine.board;
    board.lock();
    try {
      return this.submitLocked(kernel, args, where);
    } finally {
      board.unlock();
    }
  }

  private submitLocked(kernel: KernelName, args: unknown, where: string): Promise<void> {
    const refused = this.refusal(where);
    if (refused !== undefined) return Promise.reject(new Error(refused));
    let plan: JobPlan;
    let writes: DeviceWrite[];
    try {
      if (!isKernelName(kernel)) {
        throw new HbSysError(
          HB_SYS_INVALID_ARGUMENT,
          `bpu.run: unknown kernel '${String(kernel)}'; the kernels are ${kernelNames.join(', ')}`,
        );
      }
      plan = (kernels[kernel] as { plan(a: unknown): JobPlan }).plan(args);
      writes = this.check(where, plan);
    } catch (error) {
      return Promise.reject(error);
    }
    for (const w of writes) this.machine.deviceWillWrite(w.region, w.offset, w.size);
    return this.enqueue(kernelNames.indexOf(kernel), plan, where, writes);
  }

  /** Why this thread may not submit now, if it may not. */
  private refusal(where: string): string | undefined {
    if (this.stopped) return `${where}: this BPU was stopped by emulator.reset(); submit again`;
    const board = this.machine.board;
    if (board.retired && !board.mine) {
      return (
        `${where}: the machine this thread shared was replaced by emulator.reset() in the ` +
        'thread that made it, and its BPU with it: start worker threads after the reset to ' +
        'share the new one'
      );
    }
    return undefined;
  }

  /**
   * Queues a planned, checked job for the worker. @internal Tests also use it to hand the
   * worker a job it cannot run, to see a device fault reported.
   */
  enqueue(
    kernelIndex: number,
    plan: JobPlan,
    where: string,
    writes: readonly DeviceWrite[] = [],
  ): Promise<void> {
    return this.submitJob({ kernelIndex, plan, where, writes }).done;
  }

  /**
   * Queues a planned, checked job and returns it, for {@link waitFor} and {@link cancel}
   * (model tasks and hbDNNResize). The caller has made the checks and the device-write
   * notes that {@link run} makes. @internal
   */
  submitJob(spec: JobSpec): DeviceJob {
    const board = this.machine.board;
    board.lock();
    try {
      return this.submitJobLocked(spec);
    } finally {
      board.unlock();
    }
  }

  private submitJobLocked(spec: JobSpec): DeviceJob {
    const m = this.machine;
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const { plan, where } = spec;
    const job: Job = {
      id: this.nextId(),
      kernel: where,
      kernelIndex: spec.kernelIndex,
      plan,
      writes: spec.writes,
      ranges: [...plan.reads, ...plan.writes].map((r) => ({
        phyAddr: Number(r.phyAddr),
        size: r.size,
      })),
      outputs: plan.writes.map((r) => ({ phyAddr: Number(r.phyAddr), size: r.size })),
      inputs: m.sanitizer.on ? this.snapshotInputs(plan) : undefined,
      resolve,
      reject,
      message: spec.message,
      onSettle: spec.onSettle,
      completion: spec.completion,
      sequence: -1,
      gen: 0,
      outcome: undefined,
      done,
    };
    // A task's owner learns the outcome through onSettle and may never await the promise.
    if (spec.onSettle !== undefined) done.catch(() => {});
    const refused = this.refusal(where);
    if (refused !== undefined) {
      this.settle(job, { state: 'lost', message: refused });
      return job;
    }
    m.inFlight.add(job);
    m.sanitizer.epoch++;
    m.emit(() => ({
      type: 'bpu-submit',
      time: m.now(),
      job: job.id,
      kernel: where,
      bytes: plan.bytes,
    }));
    try {
      this.push(job);
    } catch (error) {
      m.inFlight.delete(job);
      m.sanitizer.epoch++;
      const message = error instanceof Error ? error.message : String(error);
      this.settle(job, { state: 'lost', message }, error instanceof Error ? error : undefined);
    }
    return job;
  }

  /**
   * Hands `job` to the worker: into the ring slot at HEAD, under the board's lock (the one
   * guard of the ring's producers). When the ring is full, or this thread's mailbox has no
   * room for another completion, waits (Atomics.wait) for the worker to make room: it never
   * waits on another thread's event loop, only on the worker, which takes no lock, so waiting
   * under the lock cannot deadlock; it blocks other threads' calls for that time, as a full
   * queue on the board blocks its submitters.
   */
  private push(job: Job): void {
    const c = this.control;
    let d = this.connect();
    for (;;) {
      this.drainLocked(d);
      const gone = this.goneReason(d);
      if (gone !== undefined) {
        this.loseDevice(d, gone);
        d = this.connect();
        continue;
      }
      const head = Atomics.load(c, HEAD);
      const tail = Atomics.load(c, TAIL);
      if (head - tail < RING && d.submitted - d.completed < RING) break;
      if (head - tail >= RING) Atomics.wait(c, TAIL, tail, WAIT_SLICE_MS);
      else Atomics.wait(d.mailbox, MAILBOX_DONE, d.completed, WAIT_SLICE_MS);
    }
    const head = Atomics.load(c, HEAD);
    const slot = head % RING;
    const seq = d.submitted++;
    if (job.kernelIndex === MESSAGE_JOB) {
      const description = { kind: 'job', thread: threadId, seq, message: job.message } as const;
      // On this thread's own channel once the worker has opened it; before (this thread's
      // first model jobs), on the worker's channel, which only the worker keeps open.
      if (Atomics.load(d.mailbox, MAILBOX_OPEN) !== 0) d.channel.postMessage(description);
      else this.postNews(d.gen, description);
    }
    Atomics.store(this.cancelMarks, slot, 0);
    const at = slot * SLOT_WORDS;
    this.slots[at] = job.kernelIndex;
    this.slots.set(job.plan.params, at + 1);
    this.owners[slot * OWNER_WORDS] = threadId;
    this.owners[slot * OWNER_WORDS + 1] = seq;
    job.sequence = head;
    job.gen = d.gen;
    d.running.push(job);
    this.holdOpen(true);
    Atomics.store(c, HEAD, head + 1);
    Atomics.notify(c, HEAD);
    this.arm(d);
  }

  /**
   * This thread's connection to the worker: the current one, or a new one when there is
   * none (this thread then starts it) or the one this thread knew is gone. Under the lock.
   */
  private connect(): Device {
    const c = this.control;
    const known = this.device;
    if (known !== undefined) {
      const gone = this.goneReason(known);
      if (gone === undefined) return known;
      this.loseDevice(known, gone);
    }
    if (Atomics.load(c, STOP) !== 0) throw resetError();
    let worker: Worker | undefined;
    if (Atomics.load(c, GEN) === 0 || Atomics.load(c, DEAD) !== 0) worker = this.startWorker();
    const gen = Atomics.load(c, GEN);
    this.awaitReady(gen);
    const box = newMailbox();
    const mailbox = new Int32Array(box);
    // This thread's own channel, for its model jobs: the worker opens its end as it takes
    // the mailbox (and says so in it); until then they go on the worker's channel (see
    // push). Nothing waits for the worker here: it may be in a long job.
    const channel = new BroadcastChannel(threadChannelName(channelName(this.share, gen), threadId));
    channel.unref();
    this.postNews(gen, { kind: 'connect', thread: threadId, mailbox: box });
    const d: Device = {
      gen,
      worker,
      mailbox,
      mailboxBytes: new Uint8Array(box),
      channel,
      running: [],
      submitted: 0,
      completed: 0,
      waiting: false,
    };
    this.device = d;
    return d;
  }

  /** Starts the worker of the next generation, owned by this thread. Under the lock. */
  private startWorker(): Worker {
    const c = this.control;
    const gen = Atomics.load(c, GEN) + 1;
    for (const i of [HEAD, TAIL, STARTED, DEAD, GONE, SESSIONS]) Atomics.store(c, i, 0);
    this.cancelMarks.fill(0);
    this.heartbeat[0] = Date.now();
    Atomics.store(c, STARTER, threadId);
    Atomics.store(c, GEN, gen);
    Atomics.add(c, STARTS, 1);
    const regions = this.machine.physical.regions.map((r) => ({
      base: r.base,
      size: r.size,
      memory: r.memory.buffer as SharedArrayBuffer,
    }));
    const init: WorkerInit = {
      bpu: this.share,
      channel: channelName(this.share, gen),
      gen,
      regions,
    };
    const worker = new Worker(new URL('./bpu-worker.js', import.meta.url), {
      workerData: init,
      // The worker is this package's own module and needs none of the program's options:
      // some are refused in workers (--expose-gc), some are meant for the main script only
      // (--input-type of `node -e`, an --import preload).
      execArgv: [],
    });
    worker.unref();
    bpuWorkers.add(worker);
    // A worker that dies never dies silently: every thread's jobs reject with the reason
    // (this thread's at once), and the next job of any thread starts a new worker.
    const lost = (why: string) => {
      if (Atomics.load(c, GEN) !== gen) return;
      if (Atomics.load(c, DEAD) === 0) {
        Atomics.store(c, GONE, GONE_EXITED);
        Atomics.store(c, DEAD, 1);
        Atomics.notify(c, TAIL);
      }
      const d = this.device;
      if (d === undefined || d.gen !== gen) return;
      // Stopped by a reset, or already known gone: said as such; else this is the news.
      const message =
        Atomics.load(c, GONE) === GONE_EXITED
          ? `the BPU worker stopped unexpectedly (${why}); the job did not complete`
          : this.deathMessage();
      this.machine.board.locked(() => this.loseDevice(d, message));
    };
    worker.on('error', (e) => lost(e instanceof Error ? e.message : String(e)));
    worker.on('exit', (code) => {
      runningHere.delete(c);
      lost(`exit code ${code}`);
    });
    // When this thread ends, its worker ends with it: the other threads are told.
    runningHere.add(c);
    hookStarterExit();
    return worker;
  }

  /** Blocks until the worker of `gen` has opened its channel (a post before would be lost). */
  private awaitReady(gen: number): void {
    const c = this.control;
    for (;;) {
      const ready = Atomics.load(c, READY);
      if (ready >= gen) return;
      if (Atomics.load(c, DEAD) !== 0 || this.silent()) {
        throw new Error(this.deathMessage());
      }
      Atomics.wait(c, READY, ready, WAIT_SLICE_MS);
    }
  }

  private silent(): boolean {
    return Date.now() - this.heartbeat[0]! > SILENT_MS;
  }

  /** Why the jobs of `d` will not complete, if they will not: its worker is gone. */
  private goneReason(d: Device): string | undefined {
    const c = this.control;
    if (Atomics.load(c, GEN) !== d.gen) {
      return 'the BPU worker stopped unexpectedly, and another thread started a new one; the job did not complete';
    }
    if (Atomics.load(c, DEAD) === 0) {
      // The thread that started the worker hears of its end from its Worker ('exit'):
      // silence is no end there. A model load under emulation beats no heart for longer
      // than SILENT_MS (seen: the demo's detector under qemu on a slow host), and taking the
      // worker for gone then failed the load.
      if (d.worker !== undefined || d.running.length === 0 || !this.silent()) return undefined;
      // Terminated with the thread that started it, which could not say so.
      Atomics.store(c, GONE, GONE_STARTER_ENDED);
      Atomics.store(c, DEAD, 1);
    }
    return this.deathMessage();
  }

  private deathMessage(): string {
    const c = this.control;
    switch (Atomics.load(c, GONE)) {
      case GONE_STOPPED:
        return resetError().message;
      case GONE_STARTER_ENDED:
        return (
          `the BPU worker ended with thread ${Atomics.load(c, STARTER)}, the thread that ` +
          'started it (a worker thread ends its own worker threads); the job did not ' +
          'complete. The next job of any thread starts a new BPU worker: load models again, and ' +
          'keep the thread that uses the BPU first (best, the main thread) alive while others use it'
        );
      default:
        return 'the BPU worker stopped unexpectedly; the job did not complete';
    }
  }

  /**
   * Blocks the calling thread until `job` settles or `timeoutMs` passes (`<= 0`: no
   * limit): the worker runs on without this thread's event loop. Each wait is bounded, and
   * a worker that is gone ends the wait. @internal
   */
  waitFor(job: DeviceJob, timeoutMs: number): 'settled' | 'timeout' {
    const j = job as unknown as Job;
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY;
    // A short job's end is seen without a kernel wake (see pollWhile); once, not each slice.
    let polled = false;
    for (;;) {
      const d = this.device;
      if (d !== undefined) this.drain(d);
      if (j.outcome !== undefined) return 'settled';
      if (d === undefined || d.gen !== j.gen) {
        // Only a device that was dropped has jobs not in it; they were settled then.
        return j.outcome === undefined ? 'timeout' : 'settled';
      }
      const gone = this.goneReason(d);
      if (gone !== undefined) {
        this.machine.board.locked(() => this.loseDevice(d, gone));
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) return 'timeout';
      const seen = Atomics.load(d.mailbox, MAILBOX_DONE);
      if (seen !== d.completed) continue;
      if (!polled) {
        polled = true;
        // Within the caller's timeout: a wait of less than the poll polls only that long.
        if (pollWhile(d.mailbox, MAILBOX_DONE, seen, left)) continue;
      }
      Atomics.wait(d.mailbox, MAILBOX_DONE, seen, Math.min(left, WAIT_SLICE_MS));
    }
  }

  /**
   * Cancels `job` if it has not started: it then never runs and settles as cancelled.
   * Returns whether it was cancelled (false: it ran, runs, or already settled). @internal
   */
  cancel(job: DeviceJob): boolean {
    const j = job as unknown as Job;
    if (j.outcome !== undefined) return false;
    const d = this.device;
    if (d === undefined || j.sequence < 0 || d.gen !== j.gen) return false;
    const c = this.control;
    if (Atomics.load(c, GEN) !== j.gen) return false;
    // The worker clears the mark when it reaches the slot; if it has already passed it, the
    // job has started and runs to its end (a mark left there would cancel the job that uses
    // the slot next).
    if (Atomics.load(c, TAIL) > j.sequence) return false;
    const slot = j.sequence % RING;
    Atomics.store(this.cancelMarks, slot, 1);
    if (Atomics.load(c, STARTED) > j.sequence) {
      Atomics.compareExchange(this.cancelMarks, slot, 1, 0);
      return false;
    }
    return true;
  }

  /** Records how `job` ended and tells its owner, then resolves or rejects its promise. */
  private settle(job: Job, outcome: JobOutcome, error?: Error): void {
    job.outcome = outcome;
    job.onSettle?.(outcome);
    if (outcome.state === 'ok') job.resolve();
    else job.reject(error ?? new Error(outcome.message));
  }

  /**
   * Device access checks and sanitizer checks, before anything runs. Throws to reject;
   * returns the ranges the job writes, resolved.
   */
  private check(where: string, plan: JobPlan): DeviceWrite[] {
    const m = this.machine;
    const reads = plan.reads.map((r) => this.checkLive(where, r));
    const writes = plan.writes.map((w) => this.checkLive(where, w));
    if (m.sanitizer.on) {
      for (const [i, r] of reads.entries()) {
        m.hazards.deviceRead(where, plan.reads[i]!.role, r.region, r.offset, r.size);
      }
      for (const [i, w] of writes.entries()) {
        m.hazards.deviceWrite(where, plan.writes[i]!.role, w.region, w.offset, w.size);
      }
    }
    return writes;
  }

  /** The live memory a range of a job touches, or a fault (thrown) that names the address. */
  private checkLive(where: string, r: DeviceRange): DeviceWrite {
    const m = this.machine;
    const addr = Number(r.phyAddr);
    const owner = m.ownerCovering(addr, r.size);
    if (owner !== undefined) {
      return { region: owner.region, offset: addr - owner.region.base, size: r.size };
    }
    const range = `[0x${hex(addr)}, 0x${hex(addr + r.size)})`;
    const message =
      `${where}: the ${r.role} ${range} is not inside one live allocation, registration or ` +
      'VIO buffer (freed, never allocated, or past the end): pass the phyAddr of live memory ' +
      'and a size within it';
    m.emit(() => ({ type: 'bpu-fault', time: m.now(), job: 0, kernel: where, bytes: 0, message }));
    m.sanitizer.report({
      kind: 'device-out-of-bounds',
      where,
      phyAddr: r.phyAddr,
      size: r.size,
      message,
    });
    throw new BpuFaultError(message, r.phyAddr, r.size);
  }

  /**
   * What each input of `plan` looks like to the CPU at submission, for
   * {@link compareInputs}: for cached memory (strict model), its dirty lines, which a CPU
   * write through the cache adds to; for uncached memory, which the CPU writes directly, a
   * copy of its bytes, up to {@link MAX_INPUT_COPY} per input (beyond that, only writes
   * through hbSysWriteMem and the buffer API are seen). Inputs the job itself writes are
   * left out: their change at completion is the job's own.
   */
  private snapshotInputs(plan: JobPlan): InputSnapshot[] {
    const m = this.machine;
    const out: InputSnapshot[] = [];
    for (const r of plan.reads) {
      const addr = Number(r.phyAddr);
      const overlapsOwnWrite = plan.writes.some(
        (w) => addr < Number(w.phyAddr) + w.size && Number(w.phyAddr) < addr + r.size,
      );
      const owner = m.ownerCovering(addr, r.size);
      if (overlapsOwnWrite || owner === undefined || r.size === 0) continue;
      const region = owner.region;
      const offset = addr - region.base;
      if (owner.cached || owner.kind === 'vio') {
        if (!m.strict) continue;
        const dirty = new Set(m.sanitizer.dirty(region, offset, r.size));
        out.push({ region, offset, size: r.size, dirty, bytes: undefined });
      } else if (r.size <= MAX_INPUT_COPY) {
        const bytes = Buffer.allocUnsafeSlow(r.size);
        region.memory.copy(bytes, 0, offset, offset + r.size);
        out.push({ region, offset, size: r.size, dirty: undefined, bytes });
      }
    }
    return out;
  }

  /**
   * At completion: did the CPU change an input of `job` while it was in flight? For a model
   * task, the cached inputs are looked at by hbDNNWaitTaskDone instead (its task stays in
   * flight until then).
   */
  private compareInputs(job: Job): void {
    const m = this.machine;
    const task = job.completion?.startsWith('hbDNN') === true;
    for (const x of job.inputs ?? []) {
      const { region, offset, size } = x;
      let changed = false;
      if (x.bytes !== undefined) {
        changed = region.memory.compare(x.bytes, 0, size, offset, offset + size) !== 0;
      } else if (!task && x.dirty !== undefined) {
        changed = m.sanitizer.dirty(region, offset, size).some((line) => !x.dirty!.has(line));
      }
      if (changed) m.hazards.inputChanged(job, region.base + offset, size);
    }
  }

  /**
   * Keeps this thread's event loop open while it has jobs in flight, and only then: one
   * interval, ref'd and unref'd (cheaper than a timer per job). Each tick also looks for a
   * worker gone without a word (see goneReason), so the waits need no timeout of their own.
   */
  private holdOpen(on: boolean): void {
    if (!on) {
      this.keepAlive?.unref();
      return;
    }
    this.keepAlive ??= setInterval(() => {
      const d = this.device;
      if (d === undefined || d.running.length === 0) return;
      const gone = this.goneReason(d);
      if (gone !== undefined) this.machine.board.locked(() => this.loseDevice(d, gone));
    }, 1000);
    this.keepAlive.ref();
  }

  /** Waits (without blocking) for the worker to complete this thread's next job. */
  private arm(d: Device): void {
    if (d.waiting || d.running.length === 0) return;
    d.waiting = true;
    const seen = Atomics.load(d.mailbox, MAILBOX_DONE);
    const wake = () => {
      d.waiting = false;
      if (this.device !== d) return;
      const gone = this.goneReason(d);
      if (gone !== undefined) this.machine.board.locked(() => this.loseDevice(d, gone));
      else this.drain(d);
    };
    if (seen !== d.completed) {
      setImmediate(wake);
      return;
    }
    const r = waitAsync(d.mailbox, MAILBOX_DONE, seen);
    if (r.async) r.value.then(wake);
    else setImmediate(wake);
  }

  /** Settles every job of this thread the worker has completed, in order. */
  private drain(d: Device): void {
    const board = this.machine.board;
    board.lock();
    try {
      this.drainLocked(d);
    } finally {
      board.unlock();
    }
  }

  private drainLocked(d: Device): void {
    const m = this.machine;
    const done = Atomics.load(d.mailbox, MAILBOX_DONE);
    while (d.completed !== done && d.running.length > 0) {
      const seq = d.completed;
      const job = d.running.shift()!;
      d.completed++;
      m.inFlight.delete(job);
      m.sanitizer.epoch++;
      const status = d.mailbox[mailboxStatus(seq)];
      if (status === STATUS_CANCELLED) {
        this.settle(job, {
          state: 'cancelled',
          message: `${job.kernel}: cancelled before it started`,
        });
      } else if (status === STATUS_OK) {
        m.counters.bpuJobs++;
        m.counters.bpuBytes += job.plan.bytes;
        if (m.sanitizer.on) {
          // Marked at submission too; marked again in case an INVALIDATE ran meanwhile.
          for (const w of job.writes) m.noteDeviceWrite(w.region, w.offset, w.size);
          this.compareInputs(job);
        }
        m.emit(() => ({
          type: 'bpu-complete',
          time: m.now(),
          job: job.id,
          kernel: job.kernel,
          bytes: job.plan.bytes,
        }));
        this.settle(job, { state: 'ok' });
      } else {
        const at = mailboxError(seq);
        const n = new DataView(d.mailboxBytes.buffer).getInt32(at, true);
        const text = Buffer.from(d.mailboxBytes.subarray(at + 4, at + 4 + n)).toString();
        const message = `${job.kernel}: the job faulted on the BPU: ${text}`;
        m.emit(() => ({
          type: 'bpu-fault',
          time: m.now(),
          job: job.id,
          kernel: job.kernel,
          bytes: 0,
          message,
        }));
        const first = job.plan.writes[0] ?? job.plan.reads[0];
        this.settle(
          job,
          { state: 'fault', message },
          new BpuFaultError(message, first?.phyAddr ?? 0n, first?.size ?? 0),
        );
      }
    }
    if (d.running.length === 0) this.holdOpen(false);
    else this.arm(d);
  }

  /** Drops this thread's connection to a worker that is gone: its jobs reject with `why`. */
  private loseDevice(d: Device, why: string): void {
    if (this.device === d) this.device = undefined;
    const jobs = d.running;
    d.running = [];
    d.channel.close();
    if (this.device === undefined) this.holdOpen(false);
    for (const job of jobs) {
      this.machine.inFlight.delete(job);
      this.machine.sanitizer.epoch++;
      this.settle(job, { state: 'lost', message: why }, new Error(why));
    }
  }

  private shutDevice(error: () => Error): void {
    const d = this.device;
    if (d === undefined) return;
    d.worker?.terminate();
    this.machine.board.locked(() => this.loseDevice(d, error().message));
  }
}

/** The control words of the BPU workers this thread started that have not exited. */
const runningHere = new Set<Int32Array>();
let starterExitHooked = false;

/**
 * Hooks this thread's exit once (not once per machine: a program that resets in a loop
 * would pile up listeners): the BPU workers it started end with it, and the other
 * threads are told.
 */
function hookStarterExit(): void {
  if (starterExitHooked) return;
  starterExitHooked = true;
  process.once('exit', () => {
    for (const c of runningHere) {
      if (Atomics.load(c, STARTER) !== threadId || Atomics.load(c, DEAD) !== 0) continue;
      Atomics.store(c, GONE, GONE_STARTER_ENDED);
      Atomics.store(c, DEAD, 1);
      Atomics.notify(c, TAIL);
    }
  });
}

/** The latest machine's BPU in this thread: the one that hears of threads that ended. */
let watcher: Bpu | undefined;
/** The BPU workers this thread started: no client of theirs, so no news when they end. */
const bpuWorkers = new WeakSet<Worker>();

/**
 * Hooks the two ends of a thread that this thread can see, once: its own exit (a worker
 * thread), and the exit of each worker thread it makes from now on (the process 'worker'
 * event names them as they are made).
 */
function watchThreadEnds(bpu: Bpu): void {
  const first = watcher === undefined;
  watcher = bpu;
  if (!first) return;
  process.on('worker', (worker) => {
    // Read now: a Worker's threadId is -1 once it has ended. (The BPU worker is added to
    // bpuWorkers only once its constructor returned, after this event.)
    const thread = worker.threadId;
    queueMicrotask(() => {
      if (!bpuWorkers.has(worker)) watcher?.madeWorker(thread);
    });
    worker.once('exit', () => {
      if (!bpuWorkers.has(worker)) watcher?.threadEnded(thread, false);
    });
    // A terminate is seen where it is called: said at once, in shared memory, for a thread
    // that waits for a lock the ended thread held (thread-tree.ts). An own property of this
    // Worker, not of Worker.prototype: nothing of anyone else's Workers changes.
    // (Best effort: a listener of the program's, before this one, may have frozen it.)
    try {
      const terminate = worker.terminate;
      Object.defineProperty(worker, 'terminate', {
        configurable: true,
        writable: true,
        value: function terminateWorker(this: Worker, ...args: unknown[]) {
          watcher?.terminating(thread);
          return Reflect.apply(terminate, this, args);
        },
      });
    } catch {
      // Its terminate stays Node's: a lock it leaves goes when its end is reported.
    }
  });
  if (!isMainThread) {
    process.once('exit', () => {
      // Exiting inside a call (process.exit() from a getter or setter of the caller's
      // object, which runs under the lock): the call never finishes, and nobody else lets
      // its lock go before the thread's end is reported, which a thread blocked on the lock
      // never sees. First, so that what follows takes the lock anew (and repairs what the
      // call had half changed, see Board).
      watcher?.exiting();
      watcher?.threadEnded(threadId, true);
    });
  }
}

function resetError(): Error {
  return new Error('the BPU job was cancelled: the emulator was reset before it completed');
}
