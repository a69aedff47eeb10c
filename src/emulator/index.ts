/**
 * The emulator backend and its control surface, `emulator`.
 *
 * The machine is made on first use, with defaults from the environment, and anew by
 * `emulator.reset(options)`. Importing this module changes nothing.
 *
 * One machine per process: the thread that first uses hbsys makes it and shares it (its
 * shared memory, board.ts) with every worker thread started after that, through
 * `worker_threads.setEnvironmentData`; such a worker attaches to it on first use. A worker
 * with no machine shared to it makes its own, and says so once on stderr.
 */

import { writeFileSync } from 'node:fs';
import {
  getEnvironmentData,
  isMainThread,
  setEnvironmentData,
  threadId as threadIdValue,
} from 'node:worker_threads';
import type { Backend } from '../backend.js';
import { describe } from '../describe.js';
import type { DnnBackend } from '../dnn/backend.js';
import { hex } from '../handle-errors.js';
import { hostBytes } from '../host-bytes.js';
import { errorText } from '../snapshot.js';
import {
  fail,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HbSysError,
  type HbSysStatusCode,
} from '../status.js';
import { BOARD_KEY, type BoardShare, isBoardShare } from './board.js';
import { Bpu } from './bpu.js';
import { createEmulatorDnn } from './dnn/backend.js';
import { heldByOtherThreads } from './dnn/held-memory.js';
import { FindingsLog } from './findings.js';
import type { KernelArgs, KernelName } from './kernels/registry.js';
import { Machine } from './machine.js';
import { type EmulatorOptions, resolveOptions } from './options.js';
import { PlanePool } from './physical-memory.js';
import type { Finding, FindingKind, FindingSeverity } from './sanitizer.js';
import { formatReport } from './sanitizer.js';

export { BpuFaultError } from './bpu.js';
export type { KernelArgs, KernelName } from './kernels/registry.js';
export type { CacheModel, EmulatorOptions, SanitizeMode } from './options.js';
export {
  type Finding,
  type FindingKind,
  type FindingSeverity,
  HbSysSanitizerError,
} from './sanitizer.js';

let machine: Machine | undefined;
let bpu: Bpu | undefined;
/** Findings of every machine since the last clearFindings(): they outlive reset. */
const findings = new FindingsLog();
let exitHookInstalled = false;
/** Whether this thread's first machine was looked for in the environment yet. */
let looked = false;
/**
 * The number in this process's plane lengths (see Region): random, so that a view of
 * another process's or another machine family's planes is not taken for one of ours.
 */
const planeTag = Math.floor(Math.random() * 4096);

function current(): Machine {
  if (machine === undefined) {
    const share = looked ? undefined : sharedMachine();
    looked = true;
    if (share !== undefined) install(share.options, undefined, share);
    else install(resolveOptions());
  }
  return machine!;
}

/**
 * The machine another thread shared with this one, if any; a worker with none says once
 * that it makes its own.
 */
function sharedMachine(): BoardShare | undefined {
  let share: unknown;
  try {
    share = getEnvironmentData(BOARD_KEY);
  } catch {
    share = undefined;
  }
  if (isBoardShare(share) && share.madeBy !== threadIdHere()) return share;
  if (!isMainThread) {
    process.stderr.write(
      'hbsys: no machine was shared with this worker thread (its parent had not used hbsys ' +
        'before starting it), so it makes its own: its memory, heap and BPU are not those of ' +
        'other threads. Use hbsys in the parent before starting workers to share one.\n',
    );
  }
  return undefined;
}

function threadIdHere(): number {
  return threadIdValue;
}

function install(
  options: ReturnType<typeof resolveOptions>,
  pool?: PlanePool,
  attach?: BoardShare,
): void {
  machine = new Machine(options, findings, pool, attach, planeTag);
  // Free and unregister refuse memory that another thread's hbDNN task holds.
  machine.memoryHolder = heldByOtherThreads(machine);
  bpu = new Bpu(machine);
  const board = machine.board;
  findings.share({
    header: board.header,
    log: board.share.findings,
    locked: (fn) => board.locked(fn),
    active: () => board.shared || !board.mine,
  });
  // Workers started from now on (from this thread) share this machine.
  setEnvironmentData(BOARD_KEY, board.share as unknown as never);
  // The report is the maker's: a thread that attached leaves it to the thread that made it.
  if (options.sanitize !== 'off' && board.mine) installExitReport();
  for (const observe of machineObservers) observe(machine);
}

/**
 * The machine for a call of `fn`, under the lock, or a failure code when the thread that
 * made the machine this thread shared has reset it since.
 */
function enter(fn: string): Machine | HbSysStatusCode {
  const m = machine ?? current();
  m.board.lock();
  if (m.board.retired && !m.board.mine) {
    m.board.unlock();
    return fail(
      HB_SYS_INVALID_ARGUMENT,
      fn,
      'the machine this thread shared was replaced by emulator.reset() in the thread that ' +
        'made it: its memory is gone; start worker threads after the reset to share the new one',
    );
  }
  return m;
}

/** Runs `call` on the machine under the lock (for calls that return no status code). */
function withMachine<T>(call: (m: Machine) => T): T {
  const m = current();
  m.board.lock();
  try {
    return call(m);
  } finally {
    m.board.unlock();
  }
}

/** Observers of every new machine (the trace follows emulator.reset). */
const machineObservers = new Set<(m: Machine) => void>();

/**
 * @internal Calls `observer` with the current machine (if one was made) and with every
 * machine made from now on; returns a remover. Makes no machine.
 */
export function observeMachines(observer: (m: Machine) => void): () => void {
  machineObservers.add(observer);
  if (machine !== undefined) observer(machine);
  return () => machineObservers.delete(observer);
}

/**
 * Physical memory of replaced machines whose BPU worker has since exited, for the next
 * reset to take over (the latest such machine's only, so at most one is held).
 */
const spare = new PlanePool();

/** The options of a reset, read once; an HbSysError for anything wrong, thrown or not. */
function resetOptions(options: EmulatorOptions): ReturnType<typeof resolveOptions> {
  try {
    return resolveOptions(options);
  } catch (error) {
    if (error instanceof HbSysError) throw error;
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `emulator.reset: the options could not be read (${errorText(error)}); pass a plain object`,
    );
  }
}

/**
 * In a sanitized process, at exit: leaks become findings, the report goes to stderr (when
 * there is anything to say), and to HBSYS_REPORT_FILE as JSON when that is set.
 */
function installExitReport(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    if (machine?.board.mine) machine.hazards.leaks('exit');
    const file = process.env.HBSYS_REPORT_FILE;
    // HBSYS_REPORT_QUIET=1: the tool that ran this program (hbsys check) prints the one report.
    const quiet = process.env.HBSYS_REPORT_QUIET === '1';
    if (findings.size > 0 && !quiet) process.stderr.write(formatReport(findings.list()));
    if (file) writeFileSync(file, findingsJson());
  });
}

/**
 * Whether this process runs under `hbsys check` (or another command of the CLI that reports
 * findings): the CLI tells it where to write the report.
 */
function underCheck(): boolean {
  const file = process.env.HBSYS_REPORT_FILE;
  return file !== undefined && file !== '' && resolveOptions({}).sanitize !== 'off';
}

/** The sanitizer mode the checker set in the environment. */
function checkMode(): 'report' | 'throw' {
  return resolveOptions({}).sanitize === 'throw' ? 'throw' : 'report';
}

/** A program under check tried to switch the checker off or erase its findings. */
function tamperedWith(where: string, call: string): void {
  current().sanitizer.record({
    kind: 'sanitizer-tampered',
    where,
    phyAddr: 0n,
    size: 0,
    message:
      `${call} under hbsys check: the checker stays on and keeps its findings, and the call ` +
      'is reported, so that a program cannot hide its own findings. Run the program without ' +
      '`hbsys check` to control the sanitizer yourself.',
  });
}

/** The findings and stats as JSON, bigints as hex strings in the one format (`0x04000000`). */
function findingsJson(): string {
  return JSON.stringify(
    { findings: findings.list(), stats: machine === undefined ? null : emulator.stats() },
    (_k, v) => (typeof v === 'bigint' ? `0x${hex(v)}` : v),
    2,
  );
}

/** @internal The BPU of the current machine, for tests and observers in this package. */
export function currentBpu(): Bpu {
  current();
  return bpu!;
}

/** The emulator as a backend: what `useBackend('emulator')` returns. */
export interface EmulatorBackend extends Backend {
  /** Always `'emulator'`. */
  readonly name: 'emulator';
}

/** The emulator as a backend of the eight functions. @internal */
export const emulatorBackend: EmulatorBackend = {
  name: 'emulator',
  // Each call spelled out (no closure per call): enter, the call, leave.
  allocMem(mem, size, cached, label) {
    const m = enter(cached ? 'hbSysAllocCachedMem' : 'hbSysAllocMem');
    if (typeof m === 'number') return m;
    try {
      return m.allocMem(mem, size, cached, label);
    } finally {
      m.board.unlock();
    }
  },
  flushMem(mem, flag) {
    const m = enter('hbSysFlushMem');
    if (typeof m === 'number') return m;
    try {
      return m.flushMem(mem, flag);
    } finally {
      m.board.unlock();
    }
  },
  freeMem(mem) {
    const m = enter('hbSysFreeMem');
    if (typeof m === 'number') return m;
    try {
      return m.freeMem(mem);
    } finally {
      m.board.unlock();
    }
  },
  writeMem(dest, src, size) {
    const m = enter('hbSysWriteMem');
    if (typeof m === 'number') return m;
    try {
      return m.writeMem(dest, src, size);
    } finally {
      m.board.unlock();
    }
  },
  readMem(dest, src, size) {
    const m = enter('hbSysReadMem');
    if (typeof m === 'number') return m;
    try {
      return m.readMem(dest, src, size);
    } finally {
      m.board.unlock();
    }
  },
  registerMem(mem) {
    const m = enter('hbSysRegisterMem');
    if (typeof m === 'number') return m;
    try {
      return m.registerMem(mem);
    } finally {
      m.board.unlock();
    }
  },
  unregisterMem(mem) {
    const m = enter('hbSysUnregisterMem');
    if (typeof m === 'number') return m;
    try {
      return m.unregisterMem(mem);
    } finally {
      m.board.unlock();
    }
  },
  isCached: (mem) => withMachine((m) => m.isCached(mem)),
  noteCpuRead: (mem, offset, size, how) =>
    withMachine((m) => m.noteCpuRead(mem, offset, size, how)),
  dnn: () => (dnn ??= createEmulatorDnn()),
};

/** The model API of the emulator, made on first use. */
let dnn: DnnBackend | undefined;

/**
 * Statistics of the emulated machine, as VMA's budget and statistics give them: what
 * {@link emulator}`.stats()` returns. Counters (`allocs`, `cleans`, …) start at zero with
 * each `emulator.reset()`.
 */
export interface EmulatorStats {
  /** Bytes of ION heap. */
  heapSize: number;
  /** Bytes set aside for live allocations (whole pages). */
  bytesInUse: number;
  /** Bytes of ION heap not set aside: `heapSize - bytesInUse`. */
  bytesFree: number;
  /** The largest allocation that can succeed now, in bytes. */
  largestFreeBlock: number;
  /** 1 - largestFreeBlock / bytesFree: 0 when the free space is one block. */
  fragmentation: number;
  /** Live allocations (each costs one of `maxAllocations` descriptors). */
  allocationCount: number;
  /** The highest `bytesInUse` since the reset. */
  peakBytesInUse: number;
  /** Bytes asked for by live allocations (bytesInUse less the rounding to pages). */
  bytesRequested: number;
  /** Live registrations (hbSysRegisterMem not yet undone). */
  registrationCount: number;
  /** Live VIO (camera, codec) buffers. */
  vioBufferCount: number;
  /** The allocation granule in bytes. */
  pageSize: number;
  /** Live allocations a process may hold. */
  maxAllocations: number;
  /** Whether cached mappings model a CPU cache (`strict`) or act as uncached (`coherent`). */
  cacheModel: 'strict' | 'coherent';
  /** Successful allocations. */
  allocs: number;
  /** Successful frees. */
  frees: number;
  /** CLEANs of cached memory (flushes of uncached memory do nothing and are not counted). */
  cleans: number;
  /** INVALIDATEs of cached memory. */
  invalidates: number;
  /** Bytes those CLEANs covered. */
  bytesCleaned: number;
  /** Bytes those INVALIDATEs covered. */
  bytesInvalidated: number;
  /** Bytes of dirty cache lines that CLEAN and INVALIDATE wrote back to memory. */
  bytesWrittenBack: number;
  /** BPU jobs completed. */
  bpuJobs: number;
  /** Bytes those jobs read and wrote. */
  bpuBytes: number;
  /**
   * Jobs this thread submitted and has not yet seen completed (the BPU serves every
   * thread; `bpuJobs` counts the completed jobs of all of them).
   */
  bpuJobsInFlight: number;
  /** Findings so far, by kind (each finding once, whatever its count). */
  findingsByKind: Record<FindingKind, number>;
  /** Findings so far, by severity (each finding once, whatever its count). */
  findingsBySeverity: Record<FindingSeverity, number>;
}

/**
 * The control surface of the emulator backend: a fresh machine, its statistics, the
 * sanitizer's findings, VIO (camera) buffers, and the BPU.
 *
 * @example
 * ```ts
 * await emulator.reset({ heapSize: 64 << 20, sanitize: 'report' });
 * using input = allocate(4096, { cached: true });
 * using output = allocate(4096, { cached: true });
 * input.write(new Uint8Array(4096).fill(7)).clean();
 * await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
 * console.log(emulator.stats().bpuJobs, emulator.findings().length);   // 1 0
 * ```
 */
export const emulator = {
  /**
   * A fresh machine: empty heap, empty VIO region, cold cache. Jobs still queued on the
   * old BPU reject. Throws an HbSysError (INVALID_ARGUMENT) for bad options, and then
   * keeps the machine it had.
   */
  async reset(options: EmulatorOptions = {}): Promise<void> {
    if (machine === undefined && !looked) {
      // A worker's first call: a shared machine is attached to, and then not reset here.
      const share = sharedMachine();
      looked = true;
      if (share !== undefined) install(share.options, undefined, share);
    }
    if (machine !== undefined && !machine.board.mine) {
      throw new HbSysError(
        HB_SYS_INVALID_ARGUMENT,
        'emulator.reset: this worker thread shares the machine of the thread that made it; ' +
          'reset it there (a reset here would pull the memory from under the other threads)',
      );
    }
    let resolved = resetOptions(options);
    // Under `hbsys check` the checker stays on: the program's request is itself a finding.
    const tampered = underCheck() && resolved.sanitize === 'off';
    if (tampered) resolved = { ...resolved, sanitize: checkMode() };
    const old = machine;
    const worker = bpu?.worker;
    bpu?.stop();
    old?.hazards.leaks('reset');
    // Threads that shared it see it retired: their calls fail from now on.
    old?.board.retire();
    // The new machine takes over memory nobody can write any more: the old machine's when
    // its BPU never ran and no other thread shared it, else an earlier one's whose worker
    // has exited since.
    const pool = new PlanePool();
    pool.takeAll(spare);
    const sharedOld = old?.board.shared === true;
    if (old !== undefined && worker === undefined && !sharedOld) pool.add(old.physical);
    install(resolved, pool);
    if (old !== undefined && worker !== undefined && !sharedOld) {
      worker.once('exit', () => {
        spare.clear();
        spare.add(old.physical);
      });
    }
    if (tampered) tamperedWith('emulator.reset', "emulator.reset({ sanitize: 'off' })");
  },

  /**
   * What the sanitizer found since the last clearFindings(), across resets: each with its
   * kind, message (what happened, where, what to do), phyAddr and size.
   */
  findings(): Finding[] {
    return findings.list();
  },

  /** Forgets the findings so far. */
  clearFindings(): void {
    if (underCheck()) {
      tamperedWith('emulator.clearFindings', 'emulator.clearFindings()');
      return;
    }
    findings.clear();
  },

  /**
   * Calls `callback` with each new finding as it is made (a repeat of one already found is
   * counted, not passed again), as VMA's leak-log hook does; returns the function that
   * removes it. A callback that throws does not fail the call that found the hazard: its
   * error is rethrown on its own, after that call.
   *
   * @example
   * ```ts
   * const stop = emulator.onFinding((f) => console.error(f.severity, f.kind, f.message));
   * // … the program runs …
   * stop();
   * ```
   */
  onFinding(callback: (finding: Finding) => void): () => void {
    if (typeof callback !== 'function') {
      throw new HbSysError(
        HB_SYS_INVALID_ARGUMENT,
        `emulator.onFinding: callback must be a function, got ${describe(callback)}`,
      );
    }
    const listener = (f: Finding) => callback(f);
    findings.listeners.add(listener);
    return () => {
      findings.listeners.delete(listener);
    };
  },

  /** The findings as the readable report printed at exit. */
  report(): string {
    return formatReport(findings.list());
  },

  /** The options in force. */
  options(): Readonly<Required<EmulatorOptions>> {
    return current().options;
  },

  /** The statistics of the current machine, counted since the last reset. */
  stats(): EmulatorStats {
    return withMachine(statsOf);
  },

  /**
   * A copy of `size` bytes of physical memory at `phyAddr`, as a debugger reads it:
   * past the CPU cache, with no side effect. For tests and tools.
   */
  peek(phyAddr: bigint, size: number): Uint8Array {
    const m = current();
    const addr = typeof phyAddr === 'bigint' ? Number(phyAddr) : Number.NaN;
    const region = Number.isInteger(size) && size > 0 ? m.physical.regionOf(addr, size) : undefined;
    if (region === undefined) {
      throw new HbSysError(
        HB_SYS_INVALID_ARGUMENT,
        `emulator.peek: [${describe(phyAddr)}, +${describe(size)}) is not physical memory; pass a ` +
          'bigint address inside the ION heap or VIO region and a positive size',
      );
    }
    const offset = addr - region.base;
    const out = new Uint8Array(size);
    out.set(region.memory.subarray(offset, offset + size));
    return out;
  },

  /** Externally owned memory with known physical addresses: camera and codec buffers. */
  vio: {
    /** Allocates a zeroed VIO buffer of `size` bytes, page-aligned. */
    alloc(size: number): {
      /** Its physical address, page-aligned. */
      phyAddr: bigint;
      /** Its size in bytes, as asked for. */
      size: number;
    } {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
        throw new HbSysError(
          HB_SYS_INVALID_ARGUMENT,
          `emulator.vio.alloc: size must be a positive integer, got ${describe(size)}`,
        );
      }
      const owner = current().vioAlloc(size);
      if (typeof owner === 'string') {
        throw new HbSysError(HB_SYS_OUT_OF_MEMORY, `emulator.vio.alloc: ${owner}`);
      }
      return { phyAddr: BigInt(owner.phyAddr), size };
    },

    /** Frees a VIO buffer; it must not be registered any more. */
    free(phyAddr: bigint): void {
      const why =
        typeof phyAddr === 'bigint'
          ? current().vioFree(Number(phyAddr))
          : `phyAddr must be a bigint, got ${typeof phyAddr}`;
      if (why !== undefined) {
        throw new HbSysError(HB_SYS_INVALID_ARGUMENT, `emulator.vio.free: ${why}`);
      }
    },

    /**
     * The camera (or codec) writes `bytes` at `phyAddr` of a VIO buffer: a device write to
     * physical memory, which a cached mapping sees only after INVALIDATE.
     */
    write(phyAddr: bigint, bytes: ArrayBufferView): void {
      const m = current();
      const view = ArrayBuffer.isView(bytes) ? hostBytes(bytes) : undefined;
      const src = typeof view === 'string' ? undefined : view;
      const addr = typeof phyAddr === 'bigint' ? Number(phyAddr) : Number.NaN;
      const vio = m.physical.vio;
      const owner = src && m.ownerCovering(addr, src.byteLength);
      if (src === undefined || owner === undefined || owner.kind !== 'vio') {
        throw new HbSysError(
          HB_SYS_INVALID_ARGUMENT,
          'emulator.vio.write: write typed-array bytes inside one live VIO buffer ' +
            `(got ${describe(phyAddr)}, ${src?.byteLength ?? 'no'} bytes)`,
        );
      }
      m.deviceWillWrite(vio, addr - vio.base, src.byteLength);
      vio.memory.set(src, addr - vio.base);
    },
  },

  /** The BPU: asynchronous device work by physical address. */
  bpu: {
    /**
     * Runs a kernel: `copy`, `fill`, `nv12ToRgb` or `conv3x3Int8`, every tensor given by
     * physical address and shape. Resolves when the device has finished.
     */
    run: <K extends KernelName>(kernel: K, args: KernelArgs[K]): Promise<void> =>
      currentBpu().run(kernel, args),
    /** The `copy` kernel: `size` bytes from `src` to `dst`, as memmove. */
    copy: (dst: bigint, src: bigint, size: number): Promise<void> =>
      currentBpu().copy(dst, src, size),
    /** The `fill` kernel: `size` bytes at `dst` set to `byte`. */
    fill: (dst: bigint, byte: number, size: number): Promise<void> =>
      currentBpu().fill(dst, byte, size),
  },
};

/** The statistics of `m` (under the lock). */
function statsOf(m: Machine): EmulatorStats {
  const ion = m.physical.ion;
  const bytesFree = ion.allocator.freeUnits * ion.pageSize;
  const largestFreeBlock = ion.allocator.largestFree() * ion.pageSize;
  return {
    heapSize: ion.size,
    bytesInUse: ion.size - bytesFree,
    bytesFree,
    largestFreeBlock,
    fragmentation: bytesFree === 0 ? 0 : 1 - largestFreeBlock / bytesFree,
    allocationCount: m.allocationCount,
    peakBytesInUse: m.counters.peakBytesInUse,
    bytesRequested: m.counters.bytesRequested,
    registrationCount: m.registrationCount,
    vioBufferCount: m.counters.vioBufferCount,
    pageSize: ion.pageSize,
    maxAllocations: m.options.maxAllocations,
    cacheModel: m.options.cacheModel,
    allocs: m.counters.allocs,
    frees: m.counters.frees,
    cleans: m.counters.cleans,
    invalidates: m.counters.invalidates,
    bytesCleaned: m.counters.bytesCleaned,
    bytesInvalidated: m.counters.bytesInvalidated,
    bytesWrittenBack: m.counters.bytesWrittenBack,
    bpuJobs: m.counters.bpuJobs,
    bpuBytes: m.counters.bpuBytes,
    bpuJobsInFlight: bpu?.pending ?? 0,
    findingsByKind: findings.byKind(),
    findingsBySeverity: { error: findings.errors, warning: findings.warnings },
  };
}

/** @internal The current machine, for the sanitizer and observers in this package. */
export function currentMachine(): Machine {
  return current();
}

/** @internal How many distinct findings there are, without copying them (cheap stats). */
export function findingCount(): number {
  return findings.size;
}
