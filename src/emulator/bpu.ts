/**
 * The emulated BPU, main-thread side: checks and submits jobs; the device work runs in a
 * worker thread (bpu-worker.ts) over physical memory.
 *
 * Every job declares the ranges it reads and writes (its kernel's plan). Each must lie
 * inside one live allocation or VIO buffer (which covers every registration), or the job
 * rejects with a BpuFaultError naming the address, and the BPU goes on with later jobs.
 * The sanitizer looks at the same ranges: CPU writes never CLEANed that the job would read,
 * lines the CPU dirtied that the job writes. Jobs complete in submission order; several may
 * be in flight.
 *
 * Lifetime: the worker starts with the first job. It keeps the process alive only while
 * jobs are in flight, so a program that forgets to await its jobs still exits once they
 * are done. `stop()` (on reset) ends it and rejects what has not run.
 */

import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { hex } from '../handle-errors.js';
import { HB_SYS_INVALID_ARGUMENT, HbSysError } from '../status.js';
import {
  DEAD,
  ERROR_BYTES,
  HEAD,
  MESSAGE_JOB,
  newQueueBuffers,
  type QueueBuffers,
  RING,
  SLOT_WORDS,
  STARTED,
  STATUS_CANCELLED,
  STATUS_OK,
  STOP,
  TAIL,
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

/** The longest single block of a waiting thread, so that it notices a dead worker. */
const WAIT_SLICE_MS = 50;

type WaitAsync = (
  a: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** One running worker and its queue. */
interface Device {
  worker: Worker;
  queue: QueueBuffers;
  control: Int32Array;
  slots: Float64Array;
  status: Int32Array;
  errorText: Uint8Array;
  cancel: Int32Array;
  /** Where model jobs' descriptions go. */
  port: MessagePort;
  /** Jobs handed to the ring, oldest first. */
  running: Job[];
  submitted: number;
  completed: number;
  waiting: boolean;
}

export class Bpu {
  private readonly machine: Machine;
  private device: Device | undefined;
  /** Jobs waiting for room in the ring, oldest first. */
  private readonly backlog: Job[] = [];
  private nextJob = 1;
  private stopped = false;

  constructor(machine: Machine) {
    this.machine = machine;
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

  /** The worker thread, while one runs. @internal */
  get worker(): Worker | undefined {
    return this.device?.worker;
  }

  /** Jobs submitted and not completed. */
  get pending(): number {
    return this.backlog.length + (this.device?.running.length ?? 0);
  }

  /** Ends the worker; every job not completed rejects. Later submissions reject too. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const error = () =>
      new Error('the BPU job was cancelled: the emulator was reset before it completed');
    this.shutDevice(error);
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
    if (this.stopped) {
      return Promise.reject(
        new Error(`${where}: this BPU was stopped by emulator.reset(); submit again`),
      );
    }
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
      id: this.nextJob++,
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
      outcome: undefined,
      done,
    };
    // A task's owner learns the outcome through onSettle and may never await the promise.
    if (spec.onSettle !== undefined) done.catch(() => {});
    if (this.stopped) {
      this.settle(job, {
        state: 'lost',
        message: `${where}: this BPU was stopped by emulator.reset(); submit again`,
      });
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
    this.backlog.push(job);
    this.pump();
    return job;
  }

  /**
   * Blocks the calling thread until `job` settles or `timeoutMs` passes (`<= 0`: no
   * limit): the worker runs on without this thread's event loop. Each wait is bounded, and
   * a worker that dies ends the wait. @internal
   */
  waitFor(job: DeviceJob, timeoutMs: number): 'settled' | 'timeout' {
    const j = job as unknown as Job;
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY;
    for (;;) {
      const d = this.device;
      if (d !== undefined) this.drain(d);
      if (j.outcome !== undefined) return 'settled';
      const device = this.device;
      if (device === undefined) {
        // Only a stopped BPU has jobs and no device; they were settled as it stopped.
        return j.outcome === undefined ? 'timeout' : 'settled';
      }
      if (Atomics.load(device.control, DEAD) !== 0) {
        this.shutDevice(
          () => new Error('the BPU worker stopped unexpectedly; the job did not complete'),
        );
        this.stopped = false;
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) return 'timeout';
      const seen = Atomics.load(device.control, TAIL);
      if (seen === device.completed) {
        Atomics.wait(device.control, TAIL, seen, Math.min(left, WAIT_SLICE_MS));
      }
    }
  }

  /**
   * Cancels `job` if it has not started: it then never runs and settles as cancelled.
   * Returns whether it was cancelled (false: it ran, runs, or already settled). @internal
   */
  cancel(job: DeviceJob): boolean {
    const j = job as unknown as Job;
    if (j.outcome !== undefined) return false;
    const at = this.backlog.indexOf(j);
    if (at >= 0) {
      this.backlog.splice(at, 1);
      this.machine.inFlight.delete(j);
      this.machine.sanitizer.epoch++;
      this.settle(j, { state: 'cancelled', message: `${j.kernel}: cancelled before it started` });
      return true;
    }
    const d = this.device;
    if (d === undefined || j.sequence < 0) return false;
    // The worker clears the mark when it reaches the slot; if it has already passed it, the
    // job has started and runs to its end (a mark left there would cancel the job that uses
    // the slot next).
    if (Atomics.load(d.control, TAIL) > j.sequence) return false;
    const slot = j.sequence % RING;
    Atomics.store(d.cancel, slot, 1);
    if (Atomics.load(d.control, STARTED) > j.sequence) {
      Atomics.compareExchange(d.cancel, slot, 1, 0);
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

  /** Moves jobs from the backlog into the ring while there is room; wakes the worker. */
  private pump(): void {
    if (this.backlog.length === 0) return;
    const d = this.device ?? this.startDevice();
    let moved = false;
    while (this.backlog.length > 0 && d.submitted - d.completed < RING) {
      const job = this.backlog.shift()!;
      const slot = d.submitted % RING;
      const at = slot * SLOT_WORDS;
      if (job.kernelIndex === MESSAGE_JOB) d.port.postMessage(job.message);
      Atomics.store(d.cancel, slot, 0);
      d.slots[at] = job.kernelIndex;
      d.slots.set(job.plan.params, at + 1);
      job.sequence = d.submitted;
      d.running.push(job);
      d.submitted++;
      moved = true;
    }
    if (moved) {
      if (d.running.length > 0) d.worker.ref();
      Atomics.store(d.control, HEAD, d.submitted);
      Atomics.notify(d.control, HEAD);
    }
    this.arm(d);
  }

  /** Waits (without blocking) for the worker to complete the next job. */
  private arm(d: Device): void {
    if (d.waiting || d.running.length === 0) return;
    d.waiting = true;
    const seen = Atomics.load(d.control, TAIL);
    const wake = () => {
      d.waiting = false;
      if (this.device === d) this.drain(d);
    };
    if (seen !== d.completed) {
      setImmediate(wake);
      return;
    }
    const r = waitAsync(d.control, TAIL, seen);
    if (r.async) r.value.then(wake);
    else setImmediate(wake);
  }

  /** Settles every job the worker has completed, in order. */
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
    const tail = Atomics.load(d.control, TAIL);
    while (d.completed !== tail) {
      const slot = d.completed % RING;
      const job = d.running.shift()!;
      d.completed++;
      m.inFlight.delete(job);
      m.sanitizer.epoch++;
      if (d.status[slot] === STATUS_CANCELLED) {
        this.settle(job, {
          state: 'cancelled',
          message: `${job.kernel}: cancelled before it started`,
        });
      } else if (d.status[slot] === STATUS_OK) {
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
        const n = new DataView(d.errorText.buffer).getInt32(slot * ERROR_BYTES, true);
        const text = Buffer.from(
          d.errorText.subarray(slot * ERROR_BYTES + 4, slot * ERROR_BYTES + 4 + n),
        ).toString();
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
    this.pump();
    if (d.running.length === 0 && this.backlog.length === 0) d.worker.unref();
    else this.arm(d);
  }

  private startDevice(): Device {
    const queue = newQueueBuffers();
    const regions = this.machine.physical.regions.map((r) => ({
      base: r.base,
      size: r.size,
      memory: r.memory.buffer as SharedArrayBuffer,
    }));
    const channel = new MessageChannel();
    const init: WorkerInit = { queue, regions, port: channel.port2 };
    const worker = new Worker(new URL('./bpu-worker.js', import.meta.url), {
      workerData: init,
      transferList: [channel.port2],
      // The worker is this package's own module and needs none of the program's options:
      // some are refused in workers (--expose-gc), some are meant for the main script only
      // (--input-type of `node -e`, an --import preload).
      execArgv: [],
    });
    worker.unref();
    channel.port1.unref();
    const d: Device = {
      worker,
      queue,
      control: new Int32Array(queue.control),
      slots: new Float64Array(queue.slots),
      status: new Int32Array(queue.status),
      errorText: new Uint8Array(queue.errorText),
      cancel: new Int32Array(queue.cancel),
      port: channel.port1,
      running: [],
      submitted: 0,
      completed: 0,
      waiting: false,
    };
    // A worker that dies never dies silently: its jobs reject with the reason, and the
    // next job starts a new worker.
    const lost = (why: string) => {
      if (this.device !== d) return;
      this.shutDevice(
        () => new Error(`the BPU worker stopped unexpectedly (${why}); the job did not complete`),
      );
      this.stopped = false;
    };
    worker.on('error', (e) => lost(e instanceof Error ? e.message : String(e)));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    this.device = d;
    return d;
  }

  private shutDevice(error: () => Error): void {
    const d = this.device;
    this.device = undefined;
    const jobs = [...(d?.running ?? []), ...this.backlog.splice(0)];
    if (d !== undefined) {
      d.running = [];
      Atomics.store(d.control, STOP, 1);
      Atomics.notify(d.control, HEAD);
      d.port.close();
      void d.worker.terminate();
    }
    for (const job of jobs) {
      this.machine.inFlight.delete(job);
      this.machine.sanitizer.epoch++;
      const e = error();
      this.settle(job, { state: 'lost', message: e.message }, e);
    }
  }
}
