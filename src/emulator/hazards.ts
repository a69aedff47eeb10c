/**
 * The sanitizer's checks on the machine: what each hazard looks like in the machine's
 * state, and the finding it makes, with what to do. The Machine calls these at the hazard;
 * the BPU and the model layer call the device and task checks (as `machine.hazards`).
 *
 * The checks see the machine only through {@link SanitizedMachine}: the few things a
 * hazard is defined by (who owns an address, the jobs in flight, the cache model in use),
 * never the functions' bookkeeping, so that they can be read, and tested, on their own.
 */

import { hex } from '../handle-errors.js';
import type { hbSysMem } from '../mem.js';
import { linesBehindCache, markDirty, throughCache } from './cache/index.js';
import type { InFlightJob } from './machine.js';
import type { Mapping, Owner } from './mappings.js';
import { CACHE_LINE, type Region } from './physical-memory.js';
import { captureStack, describeLines, type FindingKind, type Sanitizer } from './sanitizer.js';

/** What the sanitizer's checks need of the machine; the Machine is one. */
export interface SanitizedMachine {
  /** Where findings go, and the sanitizer's own marks of each line. */
  readonly sanitizer: Sanitizer;
  /** Whether the cache model is strict (the cache checks need it). */
  readonly strict: boolean;
  /** The BPU jobs submitted and not completed (a task: not waited for), of every thread. */
  readonly inFlight: Iterable<InFlightJob> & { has(job: InFlightJob): boolean };
  /** A job in flight that uses a byte of `[phyAddr, phyAddr + size)`, with that range. */
  inFlightOver(phyAddr: number, size: number): { job: InFlightJob; range: Range } | undefined;
  /** The live owner (allocation or VIO buffer) of the byte at `offset` of `region`. */
  ownerOf(region: Region, offset: number): Owner | undefined;
  /** Every live owner, for the leak report. */
  readonly owners: ReadonlyMap<number, Owner>;
}

/** A model or resize task that has not been released, for the leak report. */
export interface LiveTask {
  /** "model task #3 (model 'mobilenet')", as messages name it. */
  readonly what: string;
  readonly phyAddr: number;
  readonly size: number;
  readonly stack: string | undefined;
}

type Range = { readonly phyAddr: number; readonly size: number };

/** A pointer taken while it may read stale or unfinished bytes (see pointerTaken). */
interface PendingTake {
  readonly where: string;
  readonly m: Mapping;
  readonly offset: number;
  readonly size: number;
  readonly stale: number[] | undefined;
  readonly job: { entry: InFlightJob; range: Range } | undefined;
  /** Where the pointer was taken (stacks on). */
  readonly stack: string | undefined;
  invalidated: boolean;
}

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether `[offset, offset + size)` of `plane` holds only zero bytes. */
function isZero(plane: Buffer, offset: number, size: number): boolean {
  for (let s = offset; s < offset + size; s += ZEROS.length) {
    const n = Math.min(ZEROS.length, offset + size - s);
    if (plane.compare(ZEROS, 0, n, s, s + n) !== 0) return false;
  }
  return true;
}

export class Hazards {
  private readonly m: SanitizedMachine;
  /** Tasks submitted and not released (hbDNNInfer, hbDNNResize). */
  readonly liveTasks = new Set<LiveTask>();

  constructor(machine: SanitizedMachine) {
    this.m = machine;
  }

  /**
   * Leak findings for everything still allocated or registered. Recorded, never thrown,
   * whatever the mode: at exit and at reset there is no call to fail.
   */
  leaks(where: 'exit' | 'reset'): void {
    if (!this.m.sanitizer.on) return;
    for (const t of this.liveTasks) {
      this.m.sanitizer.record({
        kind: 'task-leak',
        where,
        phyAddr: BigInt(t.phyAddr),
        size: t.size,
        allocStack: t.stack,
        message:
          `${t.what} was never released (still live at ${where}): call hbDNNReleaseTask after ` +
          'hbDNNWaitTaskDone. On a board each live task holds one of the 32 task slots, so a ' +
          'leak in a loop ends in HB_DNN_TASK_NUM_EXCEED_LIMIT.',
      });
    }
    for (const o of this.m.owners.values()) {
      if (o.kind !== 'allocation') continue;
      for (const r of o.registrations) {
        this.m.sanitizer.record({
          kind: 'leak',
          where,
          phyAddr: BigInt(r.phyAddr),
          size: r.size,
          label: r.label,
          message:
            `the registration of ${r.size} bytes at 0x${hex(r.phyAddr)} is still live at ${where}: ` +
            'call hbSysUnregisterMem (or buffer.free()) when done with it.',
        });
      }
      this.m.sanitizer.record({
        kind: 'leak',
        where,
        phyAddr: BigInt(o.phyAddr),
        size: o.size,
        label: o.label,
        allocStack: o.allocStack,
        message:
          `${o.size} bytes of ${o.cached ? 'cached' : 'uncached'} BPU memory at 0x${hex(o.phyAddr)}` +
          `${o.label ? ` ('${o.label}')` : ''} are still allocated at ${where}: free them with ` +
          'hbSysFreeMem (or buffer.free(), or `using`). On a board each leak also holds an ION ' +
          'descriptor until the process dies.',
      });
    }
    for (const o of this.m.owners.values()) {
      if (o.kind !== 'vio') continue;
      for (const r of o.registrations) {
        this.m.sanitizer.record({
          kind: 'leak',
          where,
          phyAddr: BigInt(r.phyAddr),
          size: r.size,
          message:
            `the registration of ${r.size} bytes at 0x${hex(r.phyAddr)} (a VIO buffer) is still ` +
            `live at ${where}: call hbSysUnregisterMem when done with the frame.`,
        });
      }
    }
  }

  /**
   * The CPU reads `[offset, offset + size)` of a live mapping, now (hbSysReadMem,
   * buffer.read): stale lines, and outputs of jobs that have not completed.
   */
  cpuRead(where: string, m: Mapping, offset: number, size: number): void {
    this.inFlightAccess(where, m, offset, size, 'read');
    const stale = this.staleLines(m, offset, size);
    if (stale !== undefined) this.staleRead(where, m, stale, 'read');
  }

  /** The CPU writes `[offset, offset + size)` of a live mapping (hbSysWriteMem, buffer.write). */
  cpuWrite(where: string, m: Mapping, offset: number, size: number): void {
    this.inFlightAccess(where, m, offset, size, 'wrote');
  }

  /**
   * The program took a pointer into a mapping: read `mem.virAddr`, copied the struct, or
   * took a buffer's `bytes` or `view`. That is not a read, so nothing is reported now. The
   * take is remembered while the mapping holds stale lines or the output of a job in
   * flight, and reported when the program's synchronous run ends (a microtask) if the
   * hazard still holds then: no INVALIDATE of those lines, the job still in flight. So
   * `const out = mem.virAddr; hbSysFlushMem(mem, INVALIDATE); use(out)` is clean, and
   * `await job` before the INVALIDATE settles the take first.
   */
  pointerTaken(where: string, m: Mapping, offset: number, size: number): void {
    if (size === 0) return;
    const stale = this.staleLines(m, offset, size);
    const job = this.jobWriting(m.phyAddr + offset, size);
    if (stale === undefined && job === undefined) return;
    const last = this.pending[this.pending.length - 1];
    if (last?.m === m && last.offset === offset && last.size === size && !last.invalidated) return;
    const stack = this.m.sanitizer.stacks ? captureStack() : undefined;
    this.pending.push({ where, m, offset, size, stale, job, stack, invalidated: false });
    if (this.pending.length === 1) queueMicrotask(() => this.settleTakes());
  }

  /** Takes that may turn out to be stale reads, until the synchronous run ends. */
  private pending: PendingTake[] = [];

  private settleTakes(): void {
    const takes = this.pending;
    this.pending = [];
    if (!this.m.sanitizer.on) return;
    for (const t of takes) {
      if (t.job !== undefined && this.m.inFlight.has(t.job.entry)) {
        this.inFlightFinding(t.where, t.m, t.job.entry, t.job.range, 'read', t);
      } else if (t.stale !== undefined && !t.invalidated) {
        this.staleRead(t.where, t.m, t.stale, 'took', t);
      }
    }
  }

  /**
   * INVALIDATE of `[offset, offset + size)` of `region` is done: its lines are no longer
   * stale, nor are the pointers taken over them.
   */
  invalidated(region: Region, offset: number, size: number): void {
    this.m.sanitizer.device.clear(region, offset, size);
    this.m.sanitizer.epoch++;
    for (const t of this.pending) {
      const start = t.m.offset + t.offset;
      if (t.m.region === region && start < offset + size && offset < start + t.size) {
        t.invalidated = true;
      }
    }
  }

  /** The stale lines of `[offset, offset + size)` of `m` (cached, strict), if any. */
  private staleLines(m: Mapping, offset: number, size: number): number[] | undefined {
    if (!throughCache(m) || !this.m.strict || size === 0) return undefined;
    const device = this.m.sanitizer.device;
    const start = m.offset + offset;
    if (m.kind === 'registration' && m.owner.kind === 'allocation' && !m.owner.cached) {
      // The owner's uncached mapping writes memory behind this registration's cache, with
      // no call the sanitizer sees: compare the lines read with memory.
      for (const line of linesBehindCache(m.region, start, size)) {
        device.markStaleLine(m.region, line);
      }
    }
    if (!device.anyMarked(m.region, start, size)) return undefined;
    return device.marked(m.region, start, size);
  }

  private staleRead(
    where: string,
    m: Mapping,
    lines: number[],
    how: 'read' | 'took',
    /** Undefined: reported now, at the call. Else recorded later, with where the pointer was taken. */
    later?: { readonly stack: string | undefined },
  ): void {
    const d = describeLines(m.region, lines);
    const what =
      how === 'read'
        ? `the CPU read ${d.text} of ${describeMapping(m)}`
        : `the program took a pointer (${where}) to ${d.text} of ${describeMapping(m)} and ` +
          'did not INVALIDATE them before its synchronous run ended, so what it read through ' +
          'the pointer was stale: lines';
    const finding = {
      kind: 'cpu-read-stale' as const,
      where,
      phyAddr: d.phyAddr,
      size: d.size,
      label: m.label,
      message:
        `${what} that the BPU (or a camera, or a write through an uncached alias) changed ` +
        'behind the cache and nobody INVALIDATEd since, so the CPU sees its stale cached copy. ' +
        'Call hbSysFlushMem(mem, HB_SYS_MEM_CACHE_INVALIDATE) (buffer.invalidate()) after the ' +
        'device work completes and before the CPU reads.',
    };
    if (later === undefined) this.m.sanitizer.report(finding);
    else this.m.sanitizer.record(finding, later.stack);
  }

  /** A job in flight that writes a byte of `[phyAddr, phyAddr + size)`, with that range. */
  private jobWriting(
    phyAddr: number,
    size: number,
  ): { entry: InFlightJob; range: Range } | undefined {
    for (const job of this.m.inFlight) {
      for (const r of job.outputs ?? []) {
        if (phyAddr < r.phyAddr + r.size && r.phyAddr < phyAddr + size)
          return { entry: job, range: r };
      }
    }
    return undefined;
  }

  /**
   * The CPU touches memory of a job that has not completed (a model task: that the
   * program has not waited for): it reads what the job writes, or writes anything the job
   * uses. Deterministic: a job is in flight until its promise settles (a task until
   * hbDNNWaitTaskDone), however fast the emulated BPU was.
   */
  private inFlightAccess(
    where: string,
    m: Mapping,
    offset: number,
    size: number,
    how: 'read' | 'wrote',
  ): void {
    if (size === 0) return;
    const start = m.phyAddr + offset;
    for (const job of this.m.inFlight) {
      const ranges = how === 'read' ? (job.outputs ?? []) : job.ranges;
      const r = ranges.find((x) => start < x.phyAddr + x.size && x.phyAddr < start + size);
      if (r === undefined) continue;
      this.inFlightFinding(where, m, job, r, how);
      return;
    }
  }

  private inFlightFinding(
    where: string,
    m: Mapping,
    job: InFlightJob,
    r: Range,
    how: 'read' | 'wrote',
    /** Undefined: reported now, at the call. Else recorded later, with where the pointer was taken. */
    later?: { readonly stack: string | undefined },
  ): void {
    const role = (job.outputs ?? []).some((x) => x.phyAddr === r.phyAddr && x.size === r.size)
      ? 'output'
      : 'input';
    const task = job.completion?.startsWith('hbDNN') === true;
    const kind: FindingKind = task
      ? 'task-not-done'
      : how === 'read'
        ? 'cpu-read-in-flight'
        : 'cpu-write-in-flight';
    const finding = {
      kind,
      where,
      phyAddr: BigInt(r.phyAddr),
      size: r.size,
      label: m.label,
      message:
        `the CPU ${how} the ${role} [0x${hex(r.phyAddr)}, 0x${hex(r.phyAddr + r.size)}) of ` +
        `${job.kernel} before it completed: ${job.completion ? `call ${job.completion}` : 'await the job'} first` +
        (role === 'output'
          ? ', then INVALIDATE the output (if cached) before reading it.'
          : ', and only then change its input.'),
    };
    if (later === undefined) this.m.sanitizer.report(finding);
    else this.m.sanitizer.record(finding, later.stack);
  }

  /**
   * A job completed whose inputs the program changed while it was in flight: the bytes
   * the CPU sees (or memory) differ from what they were at submission.
   */
  inputChanged(job: InFlightJob, phyAddr: number, size: number): void {
    this.m.sanitizer.record({
      kind: job.completion?.startsWith('hbDNN') === true ? 'task-not-done' : 'cpu-write-in-flight',
      where: job.kernel,
      phyAddr: BigInt(phyAddr),
      size,
      message:
        `the CPU wrote the input [0x${hex(phyAddr)}, 0x${hex(phyAddr + size)}) of ${job.kernel} ` +
        `(job #${job.id}) while it was in flight: the BPU may have read either version. ` +
        `${job.completion ?? 'Await the job'} before changing its input, or use another buffer.`,
    });
  }

  /**
   * A device is about to write `[offset, offset + size)` of `region`: its lines are written
   * (and, on the strict model, stale for the CPU until INVALIDATE), and jobs in flight that
   * read it no longer compare those inputs at completion (the change is not the CPU's).
   */
  deviceWriting(region: Region, offset: number, size: number): void {
    for (const job of this.m.inFlight) {
      const inputs = job.inputs;
      if (inputs === undefined) continue;
      for (let i = inputs.length - 1; i >= 0; i--) {
        const x = inputs[i]!;
        if (x.region === region && x.offset < offset + size && offset < x.offset + x.size) {
          inputs.splice(i, 1);
        }
      }
    }
    // Written, for the uninitialized-read check, in every cache model.
    if (this.m.strict) this.m.sanitizer.device.mark(region, offset, size);
    else this.m.sanitizer.device.written(region, offset, size);
    this.m.sanitizer.epoch++;
  }

  /** A device wrote `[offset, offset + size)` of `region` (a BPU job completed). */
  deviceWrote(region: Region, offset: number, size: number): void {
    if (!this.m.strict) return;
    this.m.sanitizer.device.mark(region, offset, size);
    this.m.sanitizer.epoch++;
  }

  /**
   * The sanitizer's view of a CPU write it sees (hbSysWriteMem, buffer.write) of
   * `[at, at + size)` of `m`: the lines were written; through a cached mapping they are
   * dirty whatever the bytes (a store dirties a line even when it writes what was there);
   * through an uncached alias of memory that a registration caches, the cached lines are
   * stale now.
   */
  cpuWrote(m: Mapping, at: number, size: number): void {
    const start = m.offset + at;
    this.m.sanitizer.device.written(m.region, start, size);
    if (!this.m.strict) return;
    if (m.kind === 'registration' || m.cached) {
      markDirty(m.region, start, start + size);
    } else if (m.registrationCount > 0) {
      for (let line = start - (start % CACHE_LINE); line < start + size; line += CACHE_LINE) {
        this.m.sanitizer.device.markStaleLine(m.region, line);
      }
      this.m.sanitizer.epoch++;
    }
  }

  /**
   * A job reads `[offset, offset + size)` of `region`: was any byte of it written since its
   * allocation? A range with at least one written line is initialised (a job may read
   * padding along with its data); a range with none is the forgotten input copy.
   */
  uninitialized(where: string, role: string, region: Region, offset: number, size: number): void {
    const device = this.m.sanitizer.device;
    if (size === 0 || device.anyWritten(region, offset, size)) return;
    const owner = this.m.ownerOf(region, offset);
    // Writes the sanitizer does not see as they happen: through a cached mapping (dirty
    // lines), through an uncached one (memory no longer all zero).
    if (owner?.cpuCopyZeroed && this.m.sanitizer.dirty(region, offset, size).length > 0) return;
    if (!isZero(region.memory, offset, size)) return;
    // Reported once per range: later jobs take it as initialised, rather than scan it again.
    device.written(region, offset, size);
    this.m.sanitizer.report({
      kind: 'uninitialized-read',
      where,
      phyAddr: BigInt(region.base + offset),
      size,
      label: owner?.label,
      allocStack: owner?.allocStack,
      message:
        `${where} read its ${role} [0x${hex(region.base + offset)}, ` +
        `0x${hex(region.base + offset + size)}), but nothing wrote any byte of it since it was ` +
        'allocated (no CPU write, DMA, camera frame or job output): is an input copy missing? ' +
        'Write the input (and CLEAN it, if cached) before the BPU reads it.',
    });
  }

  /** At the wait: did the CPU write a task's input (through the cache) while it ran? */
  taskInputWritten(
    what: string,
    region: Region,
    offset: number,
    size: number,
    before: Set<number>,
  ) {
    const lines = this.m.sanitizer.dirty(region, offset, size).filter((l) => !before.has(l));
    if (lines.length === 0) return;
    const d = describeLines(region, lines);
    this.m.sanitizer.report({
      kind: 'task-not-done',
      where: 'hbDNNWaitTaskDone',
      phyAddr: d.phyAddr,
      size: d.size,
      message:
        `the CPU wrote ${d.text} of an input of ${what} while the task ran: the BPU may have read ` +
        'either version. Write the next input only after hbDNNWaitTaskDone, or use another buffer.',
    });
  }

  /** hbDNNReleaseTask of a task the program never waited for. */
  taskReleasedEarly(what: string, phyAddr: number, size: number): void {
    this.m.sanitizer.report({
      kind: 'task-released-early',
      where: 'hbDNNReleaseTask',
      phyAddr: BigInt(phyAddr),
      size,
      message:
        `${what} was released before hbDNNWaitTaskDone said it completed: the board cancels it ` +
        '(or stops it midway), so its outputs are undefined. Wait for the task, then release it.',
    });
  }

  /** hbDNNInfer or hbDNNResize with every task slot taken. */
  taskLimit(fn: string, limit: number, kind: string): void {
    this.m.sanitizer.report({
      kind: 'task-limit',
      where: fn,
      phyAddr: 0n,
      size: 0,
      message:
        `${fn}: ${limit} ${kind} tasks are live, the board's limit: release each task with ` +
        'hbDNNReleaseTask once hbDNNWaitTaskDone returned (is one leaking in a loop?).',
    });
  }

  /** A tensor's memory is smaller than its properties need. */
  tensorTooSmall(fn: string, phyAddr: number, memSize: number, need: number, which: string) {
    this.m.sanitizer.report({
      kind: 'tensor-too-small',
      where: fn,
      phyAddr: BigInt(phyAddr),
      size: memSize,
      message:
        `${which}: its hbSysMem holds ${memSize} bytes, but its aligned shape needs ${need} ` +
        '(alignedByteSize): allocate the tensor with properties.alignedByteSize bytes.',
    });
  }

  /** hbDNNRelease of models that live tasks still use. */
  modelReleasedBusy(what: string): void {
    this.m.sanitizer.report({
      kind: 'model-released-busy',
      where: 'hbDNNRelease',
      phyAddr: 0n,
      size: 0,
      message: `hbDNNRelease while ${what}: wait for and release every task of its models first.`,
    });
  }

  /** A BPU job reads `[offset, offset + size)` of `region`: was it CLEANed? */
  deviceRead(where: string, role: string, region: Region, offset: number, size: number): void {
    this.uninitialized(where, role, region, offset, size);
    if (!this.m.ownerOf(region, offset)?.cpuCopyZeroed) return; // never cached: nothing dirty
    const lines = this.m.sanitizer.dirty(region, offset, size);
    if (lines.length === 0) return;
    const d = describeLines(region, lines);
    const owner = this.m.ownerOf(region, offset);
    this.m.sanitizer.report({
      kind: 'device-read-dirty',
      where,
      phyAddr: d.phyAddr,
      size: d.size,
      label: owner?.label,
      allocStack: owner?.allocStack,
      message:
        `${where} read its ${role}, but ${d.text} hold CPU writes made through a cached mapping ` +
        'and never CLEANed, so the BPU read stale memory. Call hbSysFlushMem(mem, ' +
        'HB_SYS_MEM_CACHE_CLEAN) (buffer.clean()) after writing and before the BPU reads.',
    });
  }

  /** A BPU job writes `[offset, offset + size)` of `region`: lines the CPU dirtied? */
  deviceWrite(where: string, role: string, region: Region, offset: number, size: number): void {
    if (!this.m.ownerOf(region, offset)?.cpuCopyZeroed) return; // never cached: nothing dirty
    const lines = this.m.sanitizer.dirty(region, offset, size);
    if (lines.length === 0) return;
    this.conflict(where, region, lines, `${where} writes its ${role}`);
  }

  /** Memory is freed, flushed or unregistered: is a BPU job still using it? */
  inFlight(fn: string, phyAddr: number, size: number, what: string): void {
    const busy = this.m.inFlightOver(phyAddr, size);
    if (busy === undefined) return;
    const { job, range: r } = busy;
    this.m.sanitizer.report({
      kind: 'in-flight',
      where: fn,
      phyAddr: BigInt(phyAddr),
      size,
      message:
        `[0x${hex(phyAddr)}, 0x${hex(phyAddr + size)}) was ${what} while BPU job #${job.id} ` +
        `(${job.kernel}), which uses [0x${hex(r.phyAddr)}, 0x${hex(r.phyAddr + r.size)}), ` +
        `had not completed: ${job.completion ?? 'await the job'} before touching its memory.`,
    });
  }

  /**
   * hbSysFlushMem of `[at, at + length)` of `m`, before the cache model runs it: a flush of
   * uncached memory, of memory a job is using, or of lines both the CPU and a device wrote
   * (or, for INVALIDATE, that only the CPU wrote).
   */
  flushing(fn: string, op: 'clean' | 'invalidate', m: Mapping, at: number, length: number): void {
    const cached = throughCache(m);
    if (!cached) this.redundantFlush(op, m, at, length);
    this.inFlight(fn, m.phyAddr + at, length, op === 'clean' ? 'CLEANed' : 'INVALIDATEd');
    if (cached && this.m.strict) this.flush(fn, op, m, at, length);
  }

  private flush(
    fn: string,
    op: 'clean' | 'invalidate',
    m: Mapping,
    at: number,
    length: number,
  ): void {
    const dirty = this.m.sanitizer.dirty(m.region, m.offset + at, length);
    if (dirty.length === 0) return;
    const device = this.m.sanitizer.device;
    device.writtenLines(m.region, dirty);
    const both = dirty.filter((line) => device.isMarked(m.region, line));
    if (both.length > 0) {
      this.conflict(fn, m.region, both, `${op.toUpperCase()} of ${describeMapping(m)}`);
    }
    if (op === 'invalidate') {
      const cpuOnly =
        both.length === 0 ? dirty : dirty.filter((line) => !device.isMarked(m.region, line));
      if (cpuOnly.length === 0) return;
      const d = describeLines(m.region, cpuOnly);
      this.m.sanitizer.report({
        kind: 'invalidate-dirty',
        where: fn,
        phyAddr: d.phyAddr,
        size: d.size,
        label: m.label,
        message:
          `INVALIDATE of ${describeMapping(m)} over ${d.text} that the CPU wrote and never ` +
          'CLEANed: on some boards an invalidate drops those writes. CLEAN (HB_SYS_MEM_CACHE_CLEAN, ' +
          '2) after the CPU writes; INVALIDATE (HB_SYS_MEM_CACHE_INVALIDATE, 1) only before the ' +
          'CPU reads what the BPU wrote. Were the two flags swapped?',
      });
    }
  }

  /** A flush of uncached memory: it does nothing. */
  private redundantFlush(op: 'clean' | 'invalidate', m: Mapping, at: number, length: number): void {
    this.m.sanitizer.report({
      kind: 'redundant-flush',
      where: 'hbSysFlushMem',
      phyAddr: BigInt(m.phyAddr + at),
      size: length,
      label: m.label,
      message:
        `${op.toUpperCase()} of uncached memory at 0x${hex(m.phyAddr)} does nothing: uncached ` +
        'memory needs no cache maintenance. Drop the call, or allocate with hbSysAllocCachedMem ' +
        'if the CPU should go through the cache.',
    });
  }

  /** hbSysFreeMem of a live registration. */
  freeRegistered(m: Mapping): void {
    this.m.sanitizer.report({
      kind: 'free-registered',
      where: 'hbSysFreeMem',
      phyAddr: BigInt(m.phyAddr),
      size: m.size,
      label: m.label,
      message:
        `hbSysFreeMem of the registration at 0x${hex(m.phyAddr)} (+${m.size} bytes): a ` +
        'registration is ended with hbSysUnregisterMem, and its owner frees the memory.',
    });
  }

  /** hbSysUnregisterMem of a live allocation. */
  unregisterAllocated(m: Mapping): void {
    this.m.sanitizer.report({
      kind: 'unregister-allocated',
      where: 'hbSysUnregisterMem',
      phyAddr: BigInt(m.phyAddr),
      size: m.size,
      label: m.label,
      message:
        `hbSysUnregisterMem of the allocation at 0x${hex(m.phyAddr)} (+${m.size} bytes): ` +
        'allocations are freed with hbSysFreeMem; unregister only what hbSysRegisterMem made.',
      allocStack: m.kind === 'registration' ? undefined : m.allocStack,
    });
  }

  private conflict(where: string, region: Region, lines: number[], what: string): void {
    const d = describeLines(region, lines);
    const owner = this.m.ownerOf(region, lines[0]!);
    this.m.sanitizer.report({
      kind: 'write-conflict',
      where,
      phyAddr: d.phyAddr,
      size: d.size,
      label: owner?.label,
      message:
        `${what}: the CPU (through a cached mapping) and the BPU both wrote ${d.text} since the ` +
        'last sync, and the write-back of the CPU lines clobbers what the BPU wrote. CLEAN after ' +
        'the CPU writes and before the BPU job, and do not write through the cache what the BPU ' +
        'is writing.',
    });
  }

  ended(fn: string, m: Mapping): void {
    const what = m.kind === 'registration' ? 'unregistered' : 'freed';
    const base = {
      where: fn,
      phyAddr: BigInt(m.phyAddr),
      size: m.size,
      label: m.label,
      allocStack: m.kind === 'registration' ? undefined : m.allocStack,
      freeStack: m.kind === 'registration' ? undefined : m.freeStack,
    };
    const reused = this.m.ownerOf(m.region, m.offset) !== undefined;
    const tail = reused ? ' (its address has since been reused by another allocation)' : '';
    if (fn === 'hbSysFreeMem') {
      this.m.sanitizer.report({
        ...base,
        kind: m.kind === 'registration' ? 'free-registered' : 'double-free',
        message:
          m.kind === 'registration'
            ? `hbSysFreeMem of an ended registration at 0x${hex(m.phyAddr)}: registrations are ` +
              'ended with hbSysUnregisterMem, never freed.'
            : `hbSysFreeMem of memory at 0x${hex(m.phyAddr)} (+${m.size} bytes) that was already ` +
              `freed${tail}. Free each allocation once, and drop every copy of its hbSysMem.`,
      });
      return;
    }
    if (fn === 'hbSysUnregisterMem' && m.kind !== 'registration') {
      this.m.sanitizer.report({
        ...base,
        kind: 'unregister-allocated',
        message: `hbSysUnregisterMem of a (freed) allocation at 0x${hex(m.phyAddr)}: use hbSysFreeMem for allocations.`,
      });
      return;
    }
    this.m.sanitizer.report({
      ...base,
      kind: 'stale-handle',
      message:
        `${fn} used an hbSysMem (or a copy of one) whose memory at 0x${hex(m.phyAddr)} ` +
        `(+${m.size} bytes) was ${what}${tail}. Do not use an hbSysMem, or any copy of it, after ` +
        'its memory is freed or unregistered.',
    });
  }

  /**
   * A call other than free on an hbSysMem that is no handle: never filled by an alloc or
   * register call (virAddr null), or a virAddr that is not a mapping. The call fails with
   * its code; a program that ignores the code loses the work silently, so it is reported,
   * as a warning.
   */
  notAHandle(fn: string, mem: hbSysMem, why: string): void {
    const phyAddr = typeof mem.phyAddr === 'bigint' ? mem.phyAddr : 0n;
    this.m.sanitizer.report({
      kind: 'not-a-handle',
      where: fn,
      phyAddr,
      size: typeof mem.memSize === 'number' ? mem.memSize : 0,
      message:
        `${fn} of an hbSysMem (phyAddr 0x${hex(phyAddr)}) whose virAddr ${why}: the call ` +
        'failed and did nothing. Pass the hbSysMem an alloc or register call filled (check the ' +
        'codes those calls return).',
    });
  }

  /** hbSysRegisterMem refused a range: what the program registers next may fail later. */
  registerFailed(phyAddr: number, size: number, why: string): void {
    this.m.sanitizer.report({
      kind: 'register-failed',
      where: 'hbSysRegisterMem',
      phyAddr: BigInt(phyAddr),
      size,
      message:
        `hbSysRegisterMem of [0x${hex(phyAddr)}, 0x${hex(phyAddr + size)}) failed: ${why}. ` +
        'The mem was left unfilled; check the code hbSysRegisterMem returns.',
    });
  }

  invalidFree(mem: hbSysMem): void {
    const phyAddr = typeof mem.phyAddr === 'bigint' ? mem.phyAddr : 0n;
    const shown = typeof mem.phyAddr === 'bigint' ? `0x${hex(mem.phyAddr)}` : String(mem.phyAddr);
    this.m.sanitizer.report({
      kind: 'invalid-free',
      where: 'hbSysFreeMem',
      phyAddr,
      size: typeof mem.memSize === 'number' ? mem.memSize : 0,
      message:
        `hbSysFreeMem of an hbSysMem (phyAddr ${shown}) that no allocation call ` +
        'filled: free only what hbSysAllocMem or hbSysAllocCachedMem returned, with the hbSysMem ' +
        'they filled.',
    });
  }
}

function describeMapping(m: Mapping): string {
  const what = m.kind === 'registration' ? 'the registration' : 'the allocation';
  return `${what} at 0x${hex(m.phyAddr)}${m.label ? ` ('${m.label}')` : ''}`;
}
