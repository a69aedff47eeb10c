/**
 * One emulated board: physical memory, the ION heap, the VIO region, the CPU cache and
 * the bookkeeping of allocations and registrations. The emulator backend turns each of the
 * eight functions into a call here; `emulator.reset()` makes a new Machine.
 *
 * Handles: every mapping handed out (an allocation's or a registration's `virAddr`) is a
 * fresh MappedView (mapped-view.ts) carrying the allocation's id, or this thread's object
 * for a registration (and for every mapping under the sanitizer). A mem is live only while
 * that id is still in the row its page names (or the object is still live) and its
 * `phyAddr` matches. Ids are never reused, so a stale copy of a freed mem can never reach
 * the memory of whoever got the same address next. The plain alloc / free path makes no
 * object: the row is the allocation, and this thread's Owner is made from it on demand
 * (mappingAt).
 *
 * Each function acts on a snapshot of the caller's hbSysMem (each field read once, by the
 * front) and never reads the caller's object again. It writes the out-parameters before
 * anything irreversible (free, unregister), or undoes its work when the caller's object
 * refuses them (alloc, register): a failing call changes nothing.
 */

import { threadId } from 'node:worker_threads';
import type { RegisterRequest } from '../backend.js';
import { describe } from '../describe.js';
import {
  failForeignMapping,
  failMemSize,
  failMovedPhyAddr,
  failNoMapping,
  failShrunk,
  failStale,
  failSubRange,
  failUnfillable,
  hex,
  subRangeOutsideText,
  subRangePhyAddrText,
  subRangeSizeText,
} from '../handle-errors.js';
import { bytesLeft } from '../host-bytes.js';
import type { HbSysFlushFlag, hbSysMem } from '../mem.js';
import { HB_SYS_MEM_CACHE_CLEAN, RAW_VIR_ADDR } from '../mem.js';
import { fillFields, nullVirAddr } from '../out-param.js';
import type { MemSnapshot } from '../snapshot.js';
import {
  fail,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  type HbSysFailureCode,
  type HbSysStatusCode,
} from '../status.js';
import {
  Board,
  type BoardShare,
  COUNTER_NAMES,
  type Counters,
  H_LIVE_ALLOCS,
  H_LIVE_REGS,
  H_NEXT_ID,
  KIND_ALLOCATION,
  KIND_REGISTRATION,
  KIND_VIO,
  newBoardBuffers,
  S_AT,
  S_BLOCK,
  S_CACHED,
  S_FIRST_REG,
  S_ID,
  S_KIND,
  S_LABEL,
  S_NEXT_REG,
  S_OFFSET,
  S_OWNER,
  S_PREV_REG,
  S_REG_COUNT,
  S_REGION,
  S_SIZE,
  S_STACK,
  S_ZEROED,
  SLOT_STRIDE,
} from './board.js';
import {
  beforeDeviceWrite,
  clean,
  invalidate,
  linesBehindCache,
  mayKeepReference,
  referenceMayBeMemory,
  throughCache,
  wholeChunks,
  zeroWholeChunks,
} from './cache/index.js';
import type { MachineEvent, MachineListener } from './events.js';
import type { FindingsLog } from './findings.js';
import { Hazards } from './hazards.js';
import { InFlightJobs } from './in-flight.js';
import { MappedView } from './mapped-view.js';
import { type Mapping, Owner, Registration } from './mappings.js';
import type { ResolvedOptions } from './options.js';
import { PhysicalMemory, type PlanePool, planeMark, type Region } from './physical-memory.js';
import { captureStack, Sanitizer, sanitizerEpoch } from './sanitizer.js';
import { SharedStrings } from './shared-strings.js';

export { type Mapping, Owner, Registration } from './mappings.js';

/** A BPU job that has been submitted and has not completed. */
export interface InFlightJob {
  readonly id: number;
  readonly kernel: string;
  /** Physical ranges it reads and writes. */
  readonly ranges: readonly { readonly phyAddr: number; readonly size: number }[];
  /**
   * The ranges it writes, for entries that end when the program syncs rather than when the
   * device finishes (a model task ends at hbDNNWaitTaskDone): the CPU must not touch them.
   */
  readonly outputs?: readonly { readonly phyAddr: number; readonly size: number }[];
  /** What the program calls to learn that it completed, for messages. */
  readonly completion?: string;
  /**
   * Its inputs as they were at submission (sanitizer on), compared at completion: a change
   * is a CPU write to the input of a job in flight. Dropped where a device writes them.
   */
  readonly inputs?: InputSnapshot[];
}

/**
 * A job's input as the CPU could change it, at submission: the dirty lines of cached memory
 * (a CPU write through the cache adds to them), or the bytes of uncached memory.
 */
export interface InputSnapshot {
  readonly region: Region;
  readonly offset: number;
  readonly size: number;
  readonly dirty: ReadonlySet<number> | undefined;
  readonly bytes: Buffer | undefined;
}

/** A live mapping and where in it a mem starts (a sub-range mem, a crop, starts inside). */
export interface Target {
  readonly m: Mapping;
  /** Offset of the mem's first byte in the mapping. */
  readonly at: number;
}

export type { Counters } from './board.js';

export class Machine {
  readonly options: ResolvedOptions;
  readonly physical: PhysicalMemory;
  readonly strict: boolean;
  readonly sanitizer: Sanitizer;
  /** The sanitizer's checks, which the BPU calls too. */
  readonly hazards: Hazards;
  /** The shared state: slot table, counters, the lock (see board.ts). */
  readonly board: Board;
  /** Jobs submitted to the BPU and not completed, of every thread, for the in-flight check. */
  readonly inFlight = new InFlightJobs(() => this.board);
  /**
   * Who holds memory that free and unregister must refuse (the live hbDNN tasks, set by the
   * model layer): why `[phyAddr, phyAddr + size)` is held and what to do, or undefined.
   */
  memoryHolder: ((phyAddr: number, size: number) => string | undefined) | undefined;
  readonly counters: Counters;
  /** The counters as the array they are (the alloc and free path skip the accessors). */
  private readonly counterValues: Float64Array;
  readonly createdAt = performance.now();
  /** Observers of events; see {@link Machine.emit}. */
  readonly listeners = new Set<MachineListener>();
  /** Mems whose memory was freed or unregistered through them, for the sanitizer. */
  private readonly ended = new WeakMap<object, Mapping>();
  /**
   * This thread's objects for the slots it has seen, by slot: made only when something
   * needs one (a flush, a read, a registration, the sanitizer, a dump), never by the plain
   * alloc / free path, whose state is the row alone.
   */
  private readonly seen: (Mapping | undefined)[] = [];
  /** Labels and allocation stacks, shared with every thread (shared-strings.ts). */
  private readonly strings: SharedStrings;
  /**
   * Label and stack of mappings made here whose strings the shared table had no room for
   * (their row says -2), by id: this thread still shows them.
   */
  private readonly unshared = new Map<number, { label?: string; stack?: string }>();
  /** Views that came from another thread (by postMessage) and were resolved here. */
  private readonly adopted = new WeakSet<object>();
  private readonly header: Int32Array;
  /** The board's slot rows (its current view: it is made anew when the table grows). */
  private get slots(): Float64Array {
    return this.board.slots;
  }
  private readonly planeTag: number;

  /**
   * A new machine, or (with `attach`) this thread's side of the machine another thread
   * made. `pool`: physical memory of replaced machines to take over (physical-memory.ts).
   */
  constructor(
    options: ResolvedOptions,
    findings: FindingsLog,
    pool?: PlanePool,
    attach?: BoardShare,
    planeTag = 0,
  ) {
    this.options = options;
    this.strict = options.cacheModel === 'strict';
    this.planeTag = attach?.planeTag ?? planeTag;
    this.physical = new PhysicalMemory(
      options.heapSize,
      options.vioSize,
      options.pageSize,
      this.strict,
      pool,
      this.planeTag,
      attach?.regions,
    );
    const share: BoardShare = attach ?? {
      kind: 'hbsys.board',
      version: 1,
      options,
      madeBy: threadId,
      ...newBoardBuffers(),
      regions: this.physical.regions.map((r) => r.share),
      planeTag: this.planeTag,
    };
    this.board = new Board(share, attach === undefined);
    this.strings = new SharedStrings(share.strings);
    this.header = this.board.header;
    // Ids go on from this thread's last machine: a view is known by its id alone
    // (mapped-view.ts), so a view of a replaced machine must match no row of this one.
    if (attach === undefined && lastHeader !== undefined) {
      this.header[H_NEXT_ID] = Math.max(1, lastHeader[H_NEXT_ID]!);
    }
    lastHeader = this.header;
    this.counters = this.board.counters;
    this.counterValues = new Float64Array(share.counters);
    this.sanitizer = new Sanitizer(options.sanitize, options.stacks, findings, (f) =>
      this.emit(() => ({
        type: 'finding',
        time: this.now(),
        kind: f.kind,
        severity: f.severity,
        phyAddr: Number(f.phyAddr),
        size: f.size,
        where: f.where,
        message: f.message,
      })),
    );
    this.hazards = new Hazards(this);
  }

  get allocationCount(): number {
    return this.header[H_LIVE_ALLOCS]!;
  }

  get registrationCount(): number {
    return this.header[H_LIVE_REGS]!;
  }

  /** Live owners (allocations and VIO buffers of every thread) by id, built on demand. */
  get owners(): Map<number, Owner> {
    const out = new Map<number, Owner>();
    const n = this.board.slotCount;
    for (let slot = 0; slot < n; slot++) {
      const m = this.mappingAt(slot);
      if (m !== undefined && m.kind !== 'registration') out.set(m.id, m);
    }
    return out;
  }

  /** The registrations chained in `owner`'s row, as this thread's objects. */
  registrationsOf(owner: Owner): Set<Registration> {
    const out = new Set<Registration>();
    const s = this.slots;
    for (let r = owner.firstRegistrationSlot; r >= 0; r = s[r * SLOT_STRIDE + S_NEXT_REG]!) {
      const m = this.mappingAt(r);
      if (m !== undefined && m.kind === 'registration') out.add(m);
    }
    return out;
  }

  /**
   * This thread's object for the mapping in `slot`, made from the row when this thread
   * has none for its current id; undefined for a free slot.
   */
  mappingAt(slot: number): Mapping | undefined {
    const at = slot * SLOT_STRIDE;
    const s = this.slots;
    const id = s[at + S_ID]!;
    if (id === 0) return undefined;
    const known = this.seen[slot];
    if (known !== undefined && known.id === id) return known;
    const region = this.physical.regions[s[at + S_REGION]!]!;
    const offset = s[at + S_OFFSET]!;
    const size = s[at + S_SIZE]!;
    const allocatedAt = s[at + S_AT]! - TIME_ORIGIN;
    const label = this.stringOf(id, s[at + S_LABEL]!, 'label');
    let m: Mapping;
    if (s[at + S_KIND] === KIND_REGISTRATION) {
      const owner = this.mappingAt(s[at + S_OWNER]!);
      if (owner === undefined || owner.kind === 'registration') return undefined;
      m = new Registration(this.board, {
        id,
        slot,
        owner,
        offset,
        size,
        registeredAt: allocatedAt,
        label: label ?? owner.label,
        view: this.mappingView(region, offset, size, true),
      });
    } else {
      const cached = s[at + S_CACHED] === 1;
      m = new Owner(this.board, this, {
        kind: s[at + S_KIND] === KIND_VIO ? 'vio' : 'allocation',
        id,
        slot,
        region,
        offset,
        size,
        blockBytes: s[at + S_BLOCK]!,
        cached,
        label,
        allocatedAt,
        allocStack: this.stringOf(id, s[at + S_STACK]!, 'stack'),
        view: this.mappingView(region, offset, size, cached),
      });
    }
    this.seen[slot] = m;
    return m;
  }

  /** A row's label or stack: from the shared strings, or (-2) this thread's own. */
  private stringOf(id: number, index: number, which: 'label' | 'stack'): string | undefined {
    if (index === -2) return this.unshared.get(id)?.[which];
    return index < 0 ? undefined : this.strings.get(index);
  }

  /** Where a row keeps `text`: its index in the shared strings, -1 for none, -2 for here. */
  private stringIndex(text: string | undefined): number {
    if (text === undefined) return -1;
    const index = this.strings.put(text);
    return index < 0 ? -2 : index;
  }

  /** Bytes of ION heap set aside for live allocations. */
  get bytesInUse(): number {
    const ion = this.physical.ion;
    return (ion.allocator.capacity - ion.allocator.freeUnits) * ion.pageSize;
  }

  /** Milliseconds since this machine was made. */
  now(): number {
    return performance.now() - this.createdAt;
  }

  /** Sends an event to every listener; building it is skipped when there is none. */
  emit(make: () => MachineEvent): void {
    if (this.listeners.size === 0) return;
    const event = make();
    for (const l of this.listeners) l(event);
  }

  // --- the eight functions -------------------------------------------------------------

  allocMem(mem: hbSysMem, size: number, cached: boolean, label?: string): HbSysStatusCode {
    const fn = cached ? 'hbSysAllocCachedMem' : 'hbSysAllocMem';
    const live = this.header[H_LIVE_ALLOCS]!;
    if (live >= this.options.maxAllocations) {
      return fail(
        HB_SYS_OUT_OF_MEMORY,
        fn,
        `descriptor budget spent: ${live} allocations are live and ` +
          `maxAllocations is ${this.options.maxAllocations}; free some (is one leaking in a loop?)`,
      );
    }
    const region = this.physical.ion;
    const slot = this.allocBlock('allocation', region, size, cached, label);
    if (typeof slot === 'string') return fail(HB_SYS_OUT_OF_MEMORY, fn, slot);
    const row = slot * SLOT_STRIDE;
    const offset = this.slots[row + S_OFFSET]!;
    // Only the sanitizer needs this thread's object from the start (its checks hold it).
    const m = this.sanitizer.on ? (this.mappingAt(slot) as Owner) : undefined;
    const plane = cached ? region.cache : region.memory;
    const view = MappedView.handOut(
      plane.buffer,
      plane.byteOffset + offset,
      size,
      m ?? this.slots[row + S_ID]!,
    );
    if (m !== undefined) m.view = view;
    const phyAddr = region.base + offset;
    let filled: string | undefined;
    if (m === undefined) {
      // The plain path: the fields from module state, not a closure made per call.
      allocOut.phyAddr = phyAddr;
      allocOut.view = view;
      allocOut.size = size;
      filled = fillFields(mem, writeAllocFields);
      allocOut.view = undefined;
    } else {
      filled = fillFields(mem, (out) => {
        out.phyAddr = BigInt(phyAddr);
        this.setVirAddr(out, view, m);
        out.memSize = size;
      });
    }
    if (typeof filled === 'string') {
      // The caller cannot hold the block: give it back before anyone saw it.
      forgetChecker(mem);
      this.releaseBlock(slot, false);
      return failUnfillable(fn, filled, 'nothing was allocated');
    }
    this.header[H_LIVE_ALLOCS]!++;
    const c = this.counterValues;
    c[C_ALLOCS]!++;
    c[C_BYTES_REQUESTED]! += size;
    if (this.listeners.size > 0) this.emitAlloc(this.mappingAt(slot) as Owner);
    const inUse = this.bytesInUse;
    if (inUse > c[C_PEAK]!) c[C_PEAK] = inUse;
    return HB_SYS_SUCCESS;
  }

  /**
   * hbSysFlushMem, in three steps: the handle (the live mapping and the bytes to flush, or
   * the failure), the cache model's CLEAN or INVALIDATE (cache/), the sanitizer's checks
   * before it (which throw in throw mode before anything changes) and its note after.
   */
  flushMem(mem: MemSnapshot, flag: HbSysFlushFlag): HbSysStatusCode {
    const fn = 'hbSysFlushMem';
    const t = this.resolveBytes(fn, mem);
    if (typeof t === 'number') return t;
    const { m, at, length } = t;
    const op = flag === HB_SYS_MEM_CACHE_CLEAN ? 'clean' : 'invalidate';
    if (this.sanitizer.on) this.hazards.flushing(fn, op, m, at, length);
    // Uncached memory, or a coherent model: nothing is cached, so nothing to maintain.
    if (!throughCache(m) || !this.strict) return HB_SYS_SUCCESS;
    const start = m.offset + at;
    const began = this.listeners.size === 0 ? 0 : this.now();
    const trusted =
      referenceMayBeMemory(m) && this.inFlightOver(m.phyAddr + at, length) === undefined;
    const r = (op === 'clean' ? clean : invalidate)(m.region, start, start + length, trusted);
    if (op === 'clean') {
      this.counters.cleans++;
      this.counters.bytesCleaned += length;
    } else {
      this.counters.invalidates++;
      this.counters.bytesInvalidated += length;
      if (this.sanitizer.on) this.hazards.invalidated(m.region, start, length);
    }
    this.counters.bytesWrittenBack += r.writtenBack;
    if (this.listeners.size > 0) {
      this.emit(() => ({
        type: 'flush',
        time: began,
        op,
        phyAddr: m.phyAddr + at,
        size: length,
        writtenBack: r.writtenBack,
        duration: this.now() - began,
      }));
    }
    return HB_SYS_SUCCESS;
  }

  /**
   * The live mapping `mem` refers to, where in it `mem` starts, and the bytes it spans
   * (`mem.memSize`, checked against the mapping); or the failure code, with its message
   * and finding recorded.
   */
  private resolveBytes(
    fn: string,
    mem: MemSnapshot,
  ): (Target & { length: number }) | HbSysFailureCode {
    const t = this.resolve(fn, mem);
    if (typeof t === 'number') return t;
    const length = this.validBytes(fn, mem, t);
    if (length < 0) return HB_SYS_INVALID_ARGUMENT;
    return { m: t.m, at: t.at, length };
  }

  freeMem(mem: MemSnapshot): HbSysStatusCode {
    const fn = 'hbSysFreeMem';
    const quick = this.freeAsHandedOut(mem);
    if (quick !== undefined) return quick;
    const t = this.resolve(fn, mem);
    if (typeof t === 'number') return t;
    const { m } = t;
    if (!this.handedOut(mem.virAddr, t)) {
      return failSubRange(fn, m.phyAddr, t.at, 'freed: free the hbSysMem the alloc call filled');
    }
    if (m.kind === 'registration') {
      this.hazards.freeRegistered(m);
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `0x${hex(m.phyAddr)} is a registration, not an allocation: end it with ` +
          'hbSysUnregisterMem; its owner frees the memory',
      );
    }
    if (m.registrationCount > 0) {
      const r = [...m.registrations][0]!;
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `${m.registrationCount} registration(s) inside 0x${hex(m.phyAddr)} are still live ` +
          `(the first at 0x${hex(r.phyAddr)}, ${r.size} bytes): hbSysUnregisterMem them first`,
      );
    }
    const held = this.memoryHolder?.(m.phyAddr, m.size);
    if (held !== undefined) return fail(HB_SYS_INVALID_ARGUMENT, fn, `${held}; nothing was freed`);
    if (this.sanitizer.on) this.hazards.inFlight(fn, m.phyAddr, m.size, 'freed');
    // virAddr is cleared first: if the caller's object refuses, nothing has been freed.
    const cleared = nullVirAddr(mem.source);
    if (typeof cleared === 'string') return failUnfillable(fn, cleared, 'nothing was freed');
    if (this.sanitizer.stacks) m.freeStack = captureStack();
    this.releaseBlock(m.slot);
    this.header[H_LIVE_ALLOCS]!--;
    this.counters.frees++;
    this.counters.bytesRequested -= m.size;
    // Only the sanitizer says more of a use after free than its status code.
    if (this.sanitizer.on) this.ended.set(mem.source, m);
    return HB_SYS_SUCCESS;
  }

  /**
   * hbSysFreeMem of the mem an allocation filled, unchanged, with the sanitizer off (the
   * common case), from the row alone: no object is made for it. Undefined when the mem is
   * anything else (a crop, a registration, one with registrations inside or held by a
   * task, a stale or foreign one): then the full path decides, and says why.
   */
  private freeAsHandedOut(mem: MemSnapshot): HbSysStatusCode | undefined {
    const view = mem.virAddr;
    if (this.sanitizer.on || typeof view !== 'object' || view === null) return undefined;
    const id = MappedView.tagOf(view);
    if (typeof id !== 'number' || id < 0) return undefined;
    const slot = this.slotOfView(view as Uint8Array, id);
    if (slot < 0) return undefined;
    const s = this.slots;
    const row = slot * SLOT_STRIDE;
    if (s[row + S_KIND] !== KIND_ALLOCATION || s[row + S_REG_COUNT] !== 0) return undefined;
    const phyAddr = this.physical.ion.base + s[row + S_OFFSET]!;
    if (typeof mem.phyAddr !== 'bigint' || Number(mem.phyAddr) !== phyAddr) return undefined;
    const size = s[row + S_SIZE]!;
    if (this.memoryHolder?.(phyAddr, size) !== undefined) return undefined;
    const cleared = nullVirAddr(mem.source);
    if (typeof cleared === 'string') {
      return failUnfillable('hbSysFreeMem', cleared, 'nothing was freed');
    }
    this.releaseBlock(slot);
    this.header[H_LIVE_ALLOCS]!--;
    this.counterValues[C_FREES]!++;
    this.counterValues[C_BYTES_REQUESTED]! -= size;
    return HB_SYS_SUCCESS;
  }

  writeMem(dest: MemSnapshot, src: Uint8Array, size: number): HbSysStatusCode {
    const fn = 'hbSysWriteMem';
    const t = this.resolve(fn, dest);
    if (typeof t === 'number') return t;
    const length = this.validBytes(fn, dest, t);
    if (length < 0) return HB_SYS_INVALID_ARGUMENT;
    if (size > length) return tooLarge(fn, size, length);
    const left = bytesLeft(src);
    if (left < size) return failShrunk(fn, 'src', size, left);
    if (this.sanitizer.on) this.hazards.cpuWrite(fn, t.m, t.at, size);
    t.m.view!.set(left === size ? src : subarrayOf.call(src, 0, size), t.at);
    if (this.sanitizer.on) this.hazards.cpuWrote(t.m, t.at, size);
    return HB_SYS_SUCCESS;
  }

  readMem(dest: Uint8Array, src: MemSnapshot, size: number): HbSysStatusCode {
    const fn = 'hbSysReadMem';
    const t = this.resolve(fn, src);
    if (typeof t === 'number') return t;
    const length = this.validBytes(fn, src, t);
    if (length < 0) return HB_SYS_INVALID_ARGUMENT;
    if (size > length) return tooLarge(fn, size, length);
    const left = bytesLeft(dest);
    if (left < size) return failShrunk(fn, 'dest', size, left);
    if (this.sanitizer.on) this.hazards.cpuRead(fn, t.m, t.at, size);
    dest.set(subarrayOf.call(t.m.view!, t.at, t.at + size));
    return HB_SYS_SUCCESS;
  }

  registerMem(mem: RegisterRequest): HbSysStatusCode {
    const fn = 'hbSysRegisterMem';
    const phyAddr = Number(mem.phyAddr);
    const size = mem.memSize;
    const range = `[0x${hex(phyAddr)}, 0x${hex(phyAddr + size)})`;
    const refuse = (why: string): HbSysFailureCode => {
      if (this.sanitizer.on) this.hazards.registerFailed(phyAddr, size, why);
      return fail(HB_SYS_REGISTER_MEM_FAILED, fn, `${range} ${why}`);
    };
    const owner = this.ownerCovering(phyAddr, size);
    if (owner === undefined) {
      return refuse(
        'is not inside one live allocation or VIO buffer: register a range of ' +
          'memory the system knows (emulator.vio.alloc makes a camera buffer)',
      );
    }
    for (const r of owner.registrations) {
      if (phyAddr < r.phyAddr + r.size && r.phyAddr < phyAddr + size) {
        return refuse(
          `overlaps the live registration [0x${hex(r.phyAddr)}, ` +
            `0x${hex(r.phyAddr + r.size)}): unregister it first, or reuse its mem`,
        );
      }
    }
    const region = owner.region;
    const offset = phyAddr - region.base;
    const slot = this.board.takeSlot();
    if (slot < 0) return refuse('cannot be registered: the table of mappings is full');
    const now = performance.now();
    const id = this.board.nextId();
    const reg = new Registration(this.board, {
      id,
      slot,
      owner,
      offset,
      size,
      registeredAt: now,
      label: mem.label ?? owner.label,
      view: null,
    });
    const label = this.stringIndex(mem.label);
    this.writeRow(slot, id, KIND_REGISTRATION, region, offset, size, 0, true, now, label, -1);
    if (label === -2) this.unshared.set(id, { label: mem.label });
    reg.view = MappedView.handOut(region.cache.buffer, region.cache.byteOffset + offset, size, reg);
    const filled = fillFields(mem.source, (out) => this.setVirAddr(out, reg.view!, reg), false);
    if (typeof filled === 'string') {
      forgetChecker(mem.source);
      this.board.releaseSlot(slot);
      this.unshared.delete(id);
      reg.view = null;
      return failUnfillable(fn, filled, 'nothing was registered');
    }
    this.seen[slot] = reg;
    if (!owner.cpuCopyZeroed) {
      region.zero(owner.offset, owner.blockBytes, 'cpu');
      owner.cpuCopyZeroed = true;
    }
    if (this.sanitizer.on && this.strict && owner.kind === 'allocation' && !owner.cached) {
      // The CPU wrote this memory through its uncached mapping: the cached lines of the new
      // registration that hold something else are stale until INVALIDATE.
      for (const line of linesBehindCache(region, offset, size)) {
        this.sanitizer.device.markStaleLine(region, line);
      }
      this.sanitizer.epoch++;
    }
    this.chainRegistration(owner, reg);
    this.header[H_LIVE_REGS]!++;
    this.counters.registrations++;
    this.emit(() => ({
      type: 'register',
      time: this.now(),
      phyAddr,
      size,
      ownerId: owner.id,
      label: reg.label,
    }));
    return HB_SYS_SUCCESS;
  }

  unregisterMem(mem: MemSnapshot): HbSysStatusCode {
    const fn = 'hbSysUnregisterMem';
    const t = this.resolve(fn, mem);
    if (typeof t === 'number') return t;
    const { m } = t;
    if (!this.handedOut(mem.virAddr, t)) {
      return failSubRange(
        fn,
        m.phyAddr,
        t.at,
        'unregistered: pass the hbSysMem hbSysRegisterMem filled',
      );
    }
    if (m.kind !== 'registration') {
      this.hazards.unregisterAllocated(m);
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `0x${hex(m.phyAddr)} is an allocation, not a registration: free it with hbSysFreeMem`,
      );
    }
    const held = this.memoryHolder?.(m.phyAddr, m.size);
    if (held !== undefined) {
      return fail(HB_SYS_INVALID_ARGUMENT, fn, `${held}; nothing was unregistered`);
    }
    if (this.sanitizer.on) this.hazards.inFlight(fn, m.phyAddr, m.size, 'unregistered');
    const cleared = nullVirAddr(mem.source);
    if (typeof cleared === 'string') return failUnfillable(fn, cleared, 'nothing was unregistered');
    this.unchainRegistration(m);
    this.board.releaseSlot(m.slot);
    this.seen[m.slot] = undefined;
    this.unshared.delete(m.id);
    m.view = null;
    this.header[H_LIVE_REGS]!--;
    this.counters.unregistrations++;
    this.emit(() => ({
      type: 'unregister',
      time: this.now(),
      phyAddr: m.phyAddr,
      size: m.size,
      ownerId: m.owner.id,
    }));
    if (this.sanitizer.on) this.ended.set(mem.source, m);
    return HB_SYS_SUCCESS;
  }

  isCached(mem: MemSnapshot): boolean | undefined {
    const t = this.lookup(mem);
    if (t === undefined) return undefined;
    return t.m.kind === 'registration' || t.m.cached;
  }

  /**
   * The idiomatic buffer touches `[offset, offset + size)` of `mem`'s mapping: `how` says
   * how. `buffer.read` reads now; `buffer.bytes` and `buffer.view` take a pointer (checked
   * as `virAddr` is, see Hazards.pointerTaken); `buffer.write` is about to write (job
   * hazards, which throw before the write in throw mode) and `buffer.wrote` has written.
   */
  noteCpuRead(mem: MemSnapshot, offset: number, size: number, how = 'buffer.read'): void {
    if (!this.sanitizer.on) return;
    const t = this.lookup(mem);
    if (t === undefined) return;
    const at = t.at + offset;
    if (how === 'buffer.write') {
      this.hazards.cpuWrite(how, t.m, at, size);
    } else if (how === 'buffer.wrote') {
      this.hazards.cpuWrote(t.m, at, size);
    } else if (how === 'buffer.bytes' || how === 'buffer.view') {
      this.hazards.pointerTaken(how, t.m, at, size);
    } else {
      this.hazards.cpuRead(how, t.m, at, size);
    }
  }

  // --- VIO buffers ---------------------------------------------------------------------

  /** A camera or codec buffer: externally owned memory with a known physical address. */
  vioAlloc(size: number): Owner | string {
    const slot = this.allocBlock('vio', this.physical.vio, size, true, undefined);
    if (typeof slot === 'string') return slot;
    const owner = this.mappingAt(slot) as Owner;
    this.counters.vioBufferCount++;
    this.emitAlloc(owner);
    return owner;
  }

  vioFree(phyAddr: number): string | undefined {
    const vio = this.physical.vio;
    const owner = vio.contains(phyAddr, 1) ? this.ownerOf(vio, phyAddr - vio.base) : undefined;
    if (owner === undefined || owner.phyAddr !== phyAddr) {
      return `0x${hex(phyAddr)} is not the address of a live VIO buffer`;
    }
    if (owner.registrationCount > 0) {
      return `the VIO buffer at 0x${hex(phyAddr)} is still registered: hbSysUnregisterMem first`;
    }
    this.releaseBlock(owner.slot);
    this.counters.vioBufferCount--;
    return undefined;
  }

  /**
   * A device (the BPU, a camera) is about to write `[offset, offset + size)` of `region`:
   * the CPU copy's reference must not be memory there any more (cache/), and the
   * sanitizer marks the lines as written by a device.
   */
  deviceWillWrite(region: Region, offset: number, size: number): void {
    if (this.sanitizer.on) this.hazards.deviceWriting(region, offset, size);
    if (this.strict) beforeDeviceWrite(region, offset, offset + size);
  }

  /** A device wrote `[offset, offset + size)` of `region` (a BPU job completed). */
  noteDeviceWrite(region: Region, offset: number, size: number): void {
    if (this.sanitizer.on) this.hazards.deviceWrote(region, offset, size);
  }

  // --- lookups -------------------------------------------------------------------------

  /** What `view` was handed out for by this machine, live or not. Runs no code of `view`'s. */
  mappingOf(view: unknown): Mapping | undefined {
    if (typeof view !== 'object' || view === null) return undefined;
    const tag = MappedView.tagOf(view);
    if (typeof tag === 'number') {
      const slot = this.slotOfView(view as Uint8Array, Math.abs(tag));
      if (slot >= 0) return this.mappingAt(slot);
      return this.endedAllocation(view as Uint8Array, Math.abs(tag));
    }
    if (tag !== undefined) return this.ofThisMachine(tag as Mapping);
    return this.ofThisMachine(MappingTag.of(view));
  }

  /** `m` if it is this machine's: a view of an earlier one (before a reset) is nothing here. */
  private ofThisMachine(m: Mapping | undefined): Mapping | undefined {
    return m !== undefined && (m.region === this.physical.ion || m.region === this.physical.vio)
      ? m
      : undefined;
  }

  /**
   * The region whose CPU mapping (memory or cache plane) `view` views, or undefined. The
   * engine's getter reads the buffer: no code of the program's runs.
   */
  private regionOfView(view: Uint8Array): Region | undefined {
    const buffer = bufferOf.call(view);
    for (const region of this.physical.regions) {
      if (buffer === region.memory.buffer || buffer === region.cache.buffer) return region;
    }
    return undefined;
  }

  /**
   * The slot of the live allocation `id` that `view` (a MappedView with that id) is part
   * of, or -1 when it is no longer live (or was of an earlier machine): the page under the
   * view's first byte names the slot, whose row must hold the id.
   */
  private slotOfView(view: Uint8Array, id: number): number {
    // Ids are of ION allocations only (registrations carry their object), and never reused
    // in this thread: a view whose id a row of the ION heap holds is of that allocation,
    // so the buffer need not be looked at.
    const region = this.physical.ion;
    const at = byteOffsetOf.call(view) - region.memory.byteOffset;
    const slot = region.pageOwner[at >>> region.pageShift]! - 1;
    if (slot >= 0 && this.slots[slot * SLOT_STRIDE + S_ID] === id) return slot;
    // An empty crop at the very end (subarray(size)) starts on the page after the block.
    const last = at > 0 ? region.pageOwner[(at - 1) >>> region.pageShift]! - 1 : -1;
    return last >= 0 && this.slots[last * SLOT_STRIDE + S_ID] === id ? last : -1;
  }

  /**
   * What an allocation's view whose row has ended still says (the sanitizer off: no object
   * was kept for it): where it is, for the messages about a stale handle (slot 0 holds
   * another id: it is never live).
   */
  private endedAllocation(view: Uint8Array, id: number): Owner | undefined {
    const region = this.regionOfView(view);
    if (region === undefined) return undefined;
    return new Owner(this.board, this, {
      kind: 'allocation',
      id,
      slot: 0,
      region,
      offset: byteOffsetOf.call(view) - region.memory.byteOffset,
      size: 0,
      blockBytes: 0,
      cached: false,
      label: undefined,
      allocatedAt: 0,
      allocStack: undefined,
      view: null,
    });
  }

  /**
   * The live owner (allocation or VIO buffer) whose requested bytes hold all of
   * `[phyAddr, phyAddr + size)`, if one does: the memory a registration or a device access
   * may use.
   */
  ownerCovering(phyAddr: number, size: number): Owner | undefined {
    const region = this.physical.regionOf(phyAddr, size);
    const owner = region && this.ownerOf(region, phyAddr - region.base);
    return owner !== undefined && phyAddr + size <= owner.phyAddr + owner.size ? owner : undefined;
  }

  /** A BPU job in flight that uses a byte of `[phyAddr, phyAddr + size)`, with that range. */
  inFlightOver(
    phyAddr: number,
    size: number,
  ): { job: InFlightJob; range: InFlightJob['ranges'][number] } | undefined {
    if (!this.inFlight.any) return undefined;
    for (const job of this.inFlight) {
      for (const range of job.ranges) {
        if (phyAddr < range.phyAddr + range.size && range.phyAddr < phyAddr + size) {
          return { job, range };
        }
      }
    }
    return undefined;
  }

  /** The live owner of the byte at `offset` of `region`, if any. */
  ownerOf(region: Region, offset: number): Owner | undefined {
    const slot = region.pageOwner[offset >>> region.pageShift];
    if (slot === undefined || slot === 0) return undefined;
    const m = this.mappingAt(slot - 1);
    return m === undefined || m.kind === 'registration' ? undefined : m;
  }

  /** The mapping `mem` refers to, if it is live and consistent; else undefined. */
  lookup(mem: MemSnapshot): Target | undefined {
    const m = this.mappingOf(mem.virAddr) ?? this.adopt(mem.virAddr, mem.phyAddr)?.m;
    if (m === undefined || !m.live || typeof mem.phyAddr !== 'bigint') return undefined;
    const at = offsetInMapping(mem.virAddr as Uint8Array, m);
    if (at < 0 || at >= m.size) return undefined;
    return Number(mem.phyAddr) === m.phyAddr + at ? { m, at } : undefined;
  }

  /**
   * The live mapping `mem` refers to and where in it `mem` starts, or the failure code (with
   * a message) if none. A sub-range mem (`phyAddr + off`, `virAddr.subarray(off)`) is
   * accepted where it lies inside its mapping, as on the board.
   */
  resolve(fn: string, mem: MemSnapshot): Target | HbSysFailureCode {
    const view = mem.virAddr;
    if (view === null || view === undefined) {
      const was = this.ended.get(mem.source);
      if (was !== undefined) this.hazards.ended(fn, was);
      else if (fn === 'hbSysFreeMem') this.hazards.invalidFree(asShown(mem));
      else if (this.sanitizer.on) this.hazards.notAHandle(fn, asShown(mem), 'is null');
      return failNoMapping(fn);
    }
    const m = this.mappingOf(view) ?? this.adopt(view, mem.phyAddr)?.m;
    if (m === undefined) {
      if (fn === 'hbSysFreeMem') this.hazards.invalidFree(asShown(mem));
      else if (this.sanitizer.on) {
        this.hazards.notAHandle(fn, asShown(mem), 'is not a mapping hbsys made');
      }
      return failForeignMapping(fn);
    }
    if (!m.live) {
      this.hazards.ended(fn, m);
      return failStale(fn, m.phyAddr, m.kind === 'registration');
    }
    const at = offsetInMapping(view as Uint8Array, m);
    if (at < 0 || at >= m.size) {
      return fail(HB_SYS_INVALID_ARGUMENT, fn, `mem.${subRangeOutsideText(m.phyAddr, m.size)}`);
    }
    if (typeof mem.phyAddr !== 'bigint' || Number(mem.phyAddr) !== m.phyAddr + at) {
      if (fn === 'hbSysFreeMem') this.hazards.invalidFree(asShown(mem));
      if (at !== 0) {
        return fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `mem.${subRangePhyAddrText(mem.phyAddr, m.phyAddr, at)}`,
        );
      }
      return failMovedPhyAddr(fn, mem.phyAddr, m.phyAddr);
    }
    return { m, at };
  }

  // --- internals -----------------------------------------------------------------------

  /**
   * Hands `m`'s mapping to `mem`. With the sanitizer on, `virAddr` becomes an accessor, so
   * that the program's reads of it can be checked: a read of `virAddr` takes a pointer,
   * which Hazards.pointerTaken checks lazily. It looks only when the sanitizer's epoch moved
   * since its last look (a device write, an INVALIDATE, a job submitted or completed), so a
   * loop over `mem.virAddr[i]` costs one compare per read.
   */
  private setVirAddr(mem: hbSysMem, view: Uint8Array, m: Mapping | undefined): void {
    if (!this.sanitizer.on || m === undefined) {
      mem.virAddr = view;
      return;
    }
    const d = Object.getOwnPropertyDescriptor(mem, 'virAddr');
    if (d !== undefined && d.configurable === false) {
      mem.virAddr = view;
      return;
    }
    const own = (key: symbol, value: unknown) =>
      Object.defineProperty(mem, key, { value, writable: true, configurable: true });
    own(RAW_VIR_ADDR, view);
    own(SEEN_EPOCH, -1);
    own(CHECKER, { m, hazards: this.hazards } satisfies Checker);
    Object.defineProperty(mem, 'virAddr', {
      enumerable: true,
      configurable: true,
      get: checkedVirAddr,
      set: setCheckedVirAddr,
    });
  }

  /**
   * `mem.memSize` if it is a valid byte count from where `mem` starts in its mapping, else
   * -1 (with the failure recorded).
   */
  private validBytes(fn: string, mem: MemSnapshot, t: Target): number {
    const n = mem.memSize;
    const room = t.m.size - t.at;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > room) {
      if (t.at === 0) failMemSize(fn, room, n);
      else {
        fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `mem.${subRangeSizeText(t.m.phyAddr, t.m.size, t.at, n)}`,
        );
      }
      return -1;
    }
    return n;
  }

  /**
   * Takes a block of `size` bytes in `region` and a slot whose row says so; returns the
   * slot, or why not. No object is made: the row is the allocation (see mappingAt).
   */
  private allocBlock(
    kind: Owner['kind'],
    region: Region,
    size: number,
    cached: boolean,
    label: string | undefined,
  ): number | string {
    const pages = Math.ceil(size / region.pageSize);
    const start = pages <= region.allocator.capacity ? region.allocator.alloc(pages) : -1;
    if (start < 0) {
      const what = kind === 'vio' ? 'VIO region' : 'ION heap';
      const free = region.allocator.freeUnits * region.pageSize;
      const largest = region.allocator.largestFree() * region.pageSize;
      return (
        `no room for ${size} bytes in the ${what} of ${region.size} bytes: ${free} bytes ` +
        `are free, the largest free block is ${largest} bytes; free memory` +
        (kind === 'allocation'
          ? ' or raise heapSize (HB_DNN_SIM_BPU_MEM_SIZE)'
          : ' or raise vioSize')
      );
    }
    const slot = this.board.takeSlot();
    if (slot < 0) {
      region.allocator.free(start);
      return `no room in the table of mappings (${this.board.slotCount} slots are in use)`;
    }
    const offset = start * region.pageSize;
    const blockBytes = pages * region.pageSize;
    // The CPU's copy of uncached memory is zeroed when a registration first maps it.
    const zeroCpuCopy = cached || !this.strict;
    if (
      this.strict &&
      cached &&
      !this.sanitizer.on &&
      wholeChunks(offset, blockBytes) &&
      this.inFlightOver(region.base + offset, blockBytes) === undefined
    ) {
      zeroWholeChunks(region, offset, blockBytes);
    } else {
      if (this.strict && mayKeepReference(region, offset, blockBytes)) {
        beforeDeviceWrite(region, offset, offset + blockBytes);
      }
      region.zero(offset, blockBytes, zeroCpuCopy ? 'all' : 'memory');
    }
    if (this.sanitizer.on) {
      this.sanitizer.device.forget(region, offset, blockBytes);
      // The CPU's copy of fresh cached memory holds a pattern, so that a CPU write of any
      // bytes, zeros included, makes its lines dirty (see README, the sanitizer).
      if (this.strict && cached && kind === 'allocation') region.fillCpuCopy(offset, blockBytes);
    }
    const id = this.board.nextId();
    const now = performance.now();
    region.setOwner(offset, blockBytes, slot + 1);
    this.board.touch(region === this.physical.ion ? 0 : 1, offset, offset + blockBytes);
    const stack = this.options.stacks ? captureStack() : undefined;
    const labelAt = this.stringIndex(label);
    const stackAt = this.stringIndex(stack);
    if (labelAt === -2 || stackAt === -2) this.unshared.set(id, { label, stack });
    const k = kind === 'vio' ? KIND_VIO : KIND_ALLOCATION;
    this.writeRow(slot, id, k, region, offset, size, blockBytes, cached, now, labelAt, stackAt);
    this.slots[slot * SLOT_STRIDE + S_ZEROED] = zeroCpuCopy ? 1 : 0;
    // (Written only when set: a store of undefined would grow the array to every slot.)
    const stale = this.seen[slot];
    if (stale !== undefined) {
      stale.view = null;
      this.seen[slot] = undefined;
    }
    return slot;
  }

  /**
   * Gives the block of the owner in `slot` back, and the slot; `announce` false for one
   * that nobody was told of.
   */
  private releaseBlock(slot: number, announce = true): void {
    const s = this.slots;
    const row = slot * SLOT_STRIDE;
    const region = this.physical.regions[s[row + S_REGION]!]!;
    const offset = s[row + S_OFFSET]!;
    const id = s[row + S_ID]!;
    const m = this.seen[slot];
    // Read before releaseSlot, which reuses the stack's field for its free list.
    const unshared = s[row + S_LABEL] === -2 || s[row + S_STACK] === -2;
    const event =
      announce && this.listeners.size > 0
        ? {
            id,
            kind: s[row + S_KIND] === KIND_VIO ? ('vio' as const) : ('allocation' as const),
            phyAddr: region.base + offset,
            size: s[row + S_SIZE]!,
          }
        : undefined;
    region.allocator.free(offset >>> region.pageShift);
    region.setOwner(offset, s[row + S_BLOCK]!, 0);
    this.board.releaseSlot(slot);
    if (m !== undefined) {
      m.view = null;
      this.seen[slot] = undefined;
    }
    if (unshared) this.unshared.delete(id);
    if (event === undefined) return;
    this.emit(() => ({ type: 'free', time: this.now(), ...event }));
  }

  private emitAlloc(owner: Owner): void {
    if (this.listeners.size === 0) return;
    this.emit(() => ({
      type: 'alloc',
      time: this.now(),
      id: owner.id,
      kind: owner.kind,
      phyAddr: owner.phyAddr,
      size: owner.size,
      blockBytes: owner.blockBytes,
      cached: owner.cached,
      label: owner.label,
    }));
  }

  /** Fills the shared row of a new mapping. */
  private writeRow(
    slot: number,
    id: number,
    kind: number,
    region: Region,
    offset: number,
    size: number,
    blockBytes: number,
    cached: boolean,
    now: number,
    label: number,
    stack: number,
  ): void {
    const s = this.slots;
    const at = slot * SLOT_STRIDE;
    s[at + S_LABEL] = label;
    s[at + S_STACK] = stack;
    s[at + S_KIND] = kind;
    s[at + S_REGION] = region === this.physical.ion ? 0 : 1;
    s[at + S_OFFSET] = offset;
    s[at + S_SIZE] = size;
    s[at + S_BLOCK] = blockBytes;
    s[at + S_CACHED] = cached ? 1 : 0;
    s[at + S_REG_COUNT] = 0;
    s[at + S_FIRST_REG] = -1;
    s[at + S_AT] = TIME_ORIGIN + now;
    // The id last: a row is live from then on.
    s[at + S_ID] = id;
  }

  private chainRegistration(owner: Owner, reg: Registration): void {
    const s = this.slots;
    const o = owner.slot * SLOT_STRIDE;
    const r = reg.slot * SLOT_STRIDE;
    const first = s[o + S_REG_COUNT] === 0 ? -1 : s[o + S_FIRST_REG]!;
    s[r + S_OWNER] = owner.slot;
    s[r + S_NEXT_REG] = first;
    s[r + S_PREV_REG] = -1;
    if (first >= 0) s[first * SLOT_STRIDE + S_PREV_REG] = reg.slot;
    s[o + S_FIRST_REG] = reg.slot;
    s[o + S_REG_COUNT]!++;
  }

  private unchainRegistration(reg: Registration): void {
    const s = this.slots;
    const r = reg.slot * SLOT_STRIDE;
    const o = s[r + S_OWNER]! * SLOT_STRIDE;
    const next = s[r + S_NEXT_REG]!;
    const prev = s[r + S_PREV_REG]!;
    if (prev >= 0) s[prev * SLOT_STRIDE + S_NEXT_REG] = next;
    else s[o + S_FIRST_REG] = next;
    if (next >= 0) s[next * SLOT_STRIDE + S_PREV_REG] = prev;
    s[o + S_REG_COUNT]!--;
  }

  /**
   * Whether `view` is the mapping handed out for `t` (free and unregister take no other):
   * this thread's own, or, for a mem that came from another thread, its whole view.
   */
  private handedOut(view: unknown, t: Target): boolean {
    if (typeof view !== 'object' || view === null) return false;
    const tag = MappedView.tagOf(view);
    if (typeof tag === 'number') return tag === t.m.id;
    if (tag !== undefined) return view === t.m.view;
    return (
      this.adopted.has(view) && t.at === 0 && byteLengthOf.call(view as Uint8Array) === t.m.size
    );
  }

  /**
   * A mem that crossed from another thread (postMessage), or was rebuilt from its fields:
   * its `virAddr` views a plane of this machine but carries no tag of this thread. Which
   * plane it views is its buffer (Node hands a thread one object per shared buffer), or
   * failing that the buffer's length (see Region); what it maps, `phyAddr` and the slot
   * table say. Found, it is tagged here, as if handed out in this thread. As on the board,
   * such a pointer is good while the memory is live: a stale one whose address was
   * allocated again reaches the new owner (a tagged view never does).
   */
  private adopt(view: unknown, phyAddr: unknown): Target | undefined {
    if (typeof view !== 'object' || view === null || typeof phyAddr !== 'bigint') return;
    // A MappedView never crossed a thread (a clone arrives as a plain Uint8Array): one that
    // mappingOf did not know is stale or of an earlier machine.
    if (MappedView.tagOf(view) !== undefined) return;
    let buffer: ArrayBufferLike;
    let byteOffset: number;
    let byteLength: number;
    try {
      if (typedArrayTagOf.call(view as Uint8Array) !== 'Uint8Array') return;
      buffer = bufferOf.call(view as Uint8Array);
      byteOffset = byteOffsetOf.call(view as Uint8Array);
      byteLength = byteLengthOf.call(view as Uint8Array);
    } catch {
      return;
    }
    if (!(buffer instanceof SharedArrayBuffer)) return;
    let mark: [number, number, number] | undefined;
    for (const [index, region] of this.physical.regions.entries()) {
      const planes = this.strict ? [region.memory, region.cache, region.shadow] : [region.memory];
      for (const [p, plane] of planes.entries()) {
        if (buffer !== plane.buffer) {
          mark ??= planeMark(buffer) ?? [-1, -1, -1];
          if (mark[0] !== this.planeTag || mark[1] !== index || mark[2] !== p) continue;
        }
        if (p === 2) return;
        const addr = Number(phyAddr);
        if (addr !== region.base + byteOffset || byteLength < 1) return;
        const owner = this.ownerOf(region, byteOffset);
        if (owner === undefined) return;
        const end = addr + byteLength;
        let m: Mapping | undefined;
        const viaCache = p === 1 || !this.strict;
        if (viaCache) {
          for (const r of owner.registrations) {
            if (r.phyAddr <= addr && end <= r.phyAddr + r.size) {
              if (m === undefined || r.phyAddr === addr) m = r;
            }
          }
        }
        const ownerPlane = owner.cached || !this.strict ? 1 : 0;
        if (
          m === undefined &&
          (ownerPlane === p || !this.strict) &&
          end <= owner.phyAddr + owner.size
        ) {
          m = owner;
        }
        if (m === undefined) return;
        tagView(view as Uint8Array, m);
        this.adopted.add(view);
        adoptedViews.add(view);
        return { m, at: addr - m.phyAddr };
      }
    }
    return;
  }

  /** A fresh CPU mapping: the cache plane for cached memory, physical memory otherwise. */
  private mappingView(region: Region, offset: number, size: number, cached: boolean) {
    const plane = cached ? region.cache : region.memory;
    return new Uint8Array(plane.buffer, plane.byteOffset + offset, size);
  }
}

/** What writeAllocFields writes: set just before, by allocMem. */
const allocOut: { phyAddr: number; view: Uint8Array | undefined; size: number } = {
  phyAddr: 0,
  view: undefined,
  size: 0,
};

/** Fills an allocation's mem (the sanitizer off: virAddr a plain field). */
function writeAllocFields(out: hbSysMem): void {
  // Read before the first write: a setter of the caller's may allocate again, and reuse
  // allocOut.
  const phyAddr = BigInt(allocOut.phyAddr);
  const view = allocOut.view!;
  const size = allocOut.size;
  out.phyAddr = phyAddr;
  out.virAddr = view;
  out.memSize = size;
}

/** Indexes of the counters the alloc and free path keep. */
const C_PEAK = COUNTER_NAMES.indexOf('peakBytesInUse');
const C_ALLOCS = COUNTER_NAMES.indexOf('allocs');
const C_FREES = COUNTER_NAMES.indexOf('frees');
const C_BYTES_REQUESTED = COUNTER_NAMES.indexOf('bytesRequested');

/** The header of this thread's last machine, whose ids a new machine continues. */
let lastHeader: Int32Array | undefined;

/** This thread's time origin: rows keep times on the wall clock, which every thread shares. */
const TIME_ORIGIN = performance.timeOrigin;

/** Views that came from another thread, in every machine of this thread (for subarray). */
const adoptedViews = new WeakSet<object>();

/** RAW_VIR_ADDR as a constant of this module, which the getter's loads fold (an import does not). */
const RAW: typeof RAW_VIR_ADDR = RAW_VIR_ADDR;
/** The sanitizer's epoch as a constant of this module, for the same reason. */
const EPOCH = sanitizerEpoch;
/** Where a checked hbSysMem keeps the epoch its accessor last looked at. */
const SEEN_EPOCH: unique symbol = Symbol('hbsys.seenEpoch');
/** Where a checked hbSysMem keeps what its accessor checks. */
const CHECKER: unique symbol = Symbol('hbsys.checker');

interface Checker {
  readonly m: Mapping;
  readonly hazards: Hazards;
}

interface CheckedMem {
  [RAW_VIR_ADDR]: Uint8Array | null;
  [SEEN_EPOCH]: number;
  [CHECKER]: Checker | undefined;
}

/**
 * The getter of a checked `virAddr`: one function shared by every hbSysMem, its state on
 * the object under private symbols, so that V8 inlines it and a loop over `mem.virAddr[i]`
 * pays one compare per read. A read takes a pointer, checked lazily
 * (Hazards.pointerTaken), and only when the sanitizer's epoch moved since this mem's last
 * look.
 */
function checkedVirAddr(this: CheckedMem): Uint8Array | null {
  const view = this[RAW];
  if (EPOCH.value !== this[SEEN_EPOCH]) {
    this[SEEN_EPOCH] = EPOCH.value;
    const c = this[CHECKER];
    if (c !== undefined && view !== null && c.m.live && view === c.m.view) {
      c.hazards.pointerTaken('mem.virAddr', c.m, 0, c.m.size);
    }
  }
  return view;
}

/**
 * Removes what setVirAddr added beside `virAddr` (whose own restore is out-param.ts's) from
 * a mem whose call failed: it leaves as it came.
 */
function forgetChecker(mem: object): void {
  try {
    if (Object.hasOwn(mem, CHECKER)) delete (mem as Partial<CheckedMem>)[CHECKER];
    if (Object.hasOwn(mem, SEEN_EPOCH)) delete (mem as Partial<CheckedMem>)[SEEN_EPOCH];
  } catch {
    // An object that refuses the delete keeps two inert symbols: nothing reads them.
  }
}

function setCheckedVirAddr(this: CheckedMem, v: Uint8Array | null): void {
  this[RAW] = v;
}

/**
 * Base of {@link MappingTag}: its constructor returns the object given, so that the
 * subclass's constructor stamps its private field onto that object.
 */
class Stamp {
  constructor(target: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the point: private fields on `target`
    return target;
  }
}

/**
 * What each view handed out maps, as a private field of the view itself. A private field
 * cannot be read, forged or faked by a program (a Proxy or a getter never sees it, and
 * `#mapping in x` runs no code of x's), and unlike a WeakMap entry it costs the garbage
 * collector nothing extra for each of the views made per allocation.
 */
class MappingTag extends Stamp {
  #mapping: Mapping;

  private constructor(view: Uint8Array, m: Mapping) {
    super(view);
    this.#mapping = m;
  }

  static tag(view: Uint8Array, m: Mapping): void {
    new MappingTag(view, m);
  }

  static of(x: object): Mapping | undefined {
    return #mapping in x ? (x as unknown as MappingTag).#mapping : undefined;
  }
}

const subarrayOf = Uint8Array.prototype.subarray;
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTagOf = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag)!
  .get! as (this: Uint8Array) => string | undefined;
const byteLengthOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteLength')!.get! as (
  this: Uint8Array,
) => number;
const byteOffsetOf = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  'byteOffset',
)!.get! as (this: Uint8Array) => number;
const bufferOf = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  'buffer',
)!.get! as (this: Uint8Array) => ArrayBufferLike;

/** The plane a mapping views: the cache for cached mappings, memory otherwise. */
function planeOf(m: Mapping): Buffer {
  return m.kind === 'registration' || m.cached ? m.region.cache : m.region.memory;
}

/**
 * Tags a mapping handed out, and makes its `subarray` tag what it returns: a sub-range mem
 * (`virAddr.subarray(off)`, a crop) is then known as part of the same mapping, and dies with
 * it, so that a stale crop can never reach the memory's next owner.
 */
function tagView(view: Uint8Array, m: Mapping): void {
  MappingTag.tag(view, m);
  Object.defineProperty(view, 'subarray', {
    configurable: true,
    writable: true,
    value: taggedSubarray,
  });
}

/**
 * `subarray` of the views handed out: one function for all (its mapping is the view's
 * tag). Only a view of the mapping's own plane is tagged: called on anything else, it is
 * the plain `subarray`.
 */
function taggedSubarray(this: Uint8Array, begin?: number, end?: number): Uint8Array {
  const sub = subarrayOf.call(this, begin, end);
  const m = MappingTag.of(this);
  if (m !== undefined && bufferOf.call(sub) === bufferOf.call(planeOf(m))) tagView(sub, m);
  else if (m !== undefined && adoptedViews.has(this)) {
    // A view that came from another thread: its buffer is another object of the plane.
    tagView(sub, m);
    adoptedViews.add(sub);
  }
  return sub;
}

/** Where `view` (tagged with `m`) starts in `m`, in bytes; read with the engine's getter. */
function offsetInMapping(view: Uint8Array, m: Mapping): number {
  const plane = planeOf(m);
  return byteOffsetOf.call(view) - plane.byteOffset - m.offset;
}

/** What the sanitizer shows of a mem that is no handle: values, never the caller's code. */
function asShown(mem: MemSnapshot): hbSysMem {
  const { phyAddr, memSize } = mem;
  return {
    phyAddr: (typeof phyAddr === 'bigint' ? phyAddr : describe(phyAddr)) as bigint,
    virAddr: null,
    memSize: typeof memSize === 'number' ? memSize : 0,
  };
}

function tooLarge(fn: string, size: number, length: number): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `size ${size} is larger than mem.memSize (${length}): copy at most memSize bytes`,
  );
}
