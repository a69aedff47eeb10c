/**
 * One emulated board: physical memory, the ION heap, the VIO region, the CPU cache and
 * the bookkeeping of allocations and registrations. The emulator backend turns each of the
 * eight functions into a call here; `emulator.reset()` makes a new Machine.
 *
 * Handles: every mapping handed out (an allocation's or a registration's `virAddr`) is a
 * fresh Uint8Array, and the Machine knows each by identity. A mem is live only while its
 * `virAddr` is the current mapping of a live allocation or registration and its `phyAddr`
 * matches. So a stale copy of a freed mem can never reach the memory of whoever got the
 * same address next: its `virAddr` is the old object, which is dead.
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
import { clearVirAddr, writeFields } from '../out-param.js';
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
  type Counters,
  H_LIVE_ALLOCS,
  H_LIVE_REGS,
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
  S_NEXT_REG,
  S_OFFSET,
  S_OWNER,
  S_PREV_REG,
  S_REG_COUNT,
  S_REGION,
  S_SIZE,
  S_ZEROED,
  SLOT_STRIDE,
} from './board.js';
import { beforeDeviceWrite, clean, invalidate, markDirty } from './cpu-cache.js';
import type { MachineEvent, MachineListener } from './events.js';
import type { FindingsLog } from './findings.js';
import { Hazards, linesBehindCache } from './hazards.js';
import { InFlightJobs } from './in-flight.js';
import { type Mapping, Owner, Registration } from './mappings.js';
import type { ResolvedOptions } from './options.js';
import {
  CACHE_LINE,
  PhysicalMemory,
  type PlanePool,
  planeCode,
  REF_CHUNK,
  type Region,
} from './physical-memory.js';
import { captureStack, Sanitizer, sanitizerEpoch } from './sanitizer.js';

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
  readonly createdAt = performance.now();
  /** Observers of events; see {@link Machine.emit}. */
  readonly listeners = new Set<MachineListener>();
  /** Mems whose memory was freed or unregistered through them, for the sanitizer. */
  private readonly ended = new WeakMap<object, Mapping>();
  /** This thread's objects for the slots it has seen, by slot. */
  private readonly seen: (Mapping | undefined)[] = [];
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
    this.header = this.board.header;
    this.counters = this.board.counters;
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
        label: owner.label,
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
        label: undefined,
        allocatedAt,
        allocStack: undefined,
        view: this.mappingView(region, offset, size, cached),
      });
    }
    this.seen[slot] = m;
    return m;
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
    const owner = this.allocOwner('allocation', this.physical.ion, size, cached, label);
    if (typeof owner === 'string') return fail(HB_SYS_OUT_OF_MEMORY, fn, owner);
    owner.view = this.mappingView(owner.region, owner.offset, size, cached);
    tagView(owner.view, owner);
    const filled = writeFields(mem, (out) => {
      out.phyAddr = BigInt(owner.phyAddr);
      this.setVirAddr(out, owner);
      out.memSize = size;
    });
    if (typeof filled === 'string') {
      // The caller cannot hold the block: give it back before anyone saw it.
      forgetChecker(mem);
      this.releaseOwner(owner, false);
      return failUnfillable(fn, filled, 'nothing was allocated');
    }
    this.header[H_LIVE_ALLOCS]!++;
    this.counters.allocs++;
    this.counters.bytesRequested += size;
    this.emitAlloc(owner);
    this.counters.peakBytesInUse = Math.max(this.counters.peakBytesInUse, this.bytesInUse);
    return HB_SYS_SUCCESS;
  }

  flushMem(mem: MemSnapshot, flag: HbSysFlushFlag): HbSysStatusCode {
    const fn = 'hbSysFlushMem';
    const t = this.resolve(fn, mem);
    if (typeof t === 'number') return t;
    const { m, at } = t;
    const length = this.validBytes(fn, mem, t);
    if (length < 0) return HB_SYS_INVALID_ARGUMENT;
    const cached = m.kind === 'registration' || m.cached;
    const op = flag === HB_SYS_MEM_CACHE_CLEAN ? 'clean' : 'invalidate';
    if (this.sanitizer.on) {
      if (!cached) this.hazards.redundantFlush(op, m, at, length);
      this.hazards.inFlight(fn, m.phyAddr + at, length, op === 'clean' ? 'CLEANed' : 'INVALIDATEd');
      if (cached && this.strict) this.hazards.flush(fn, op, m, at, length);
    }
    // Uncached memory, or a coherent model: nothing is cached, so nothing to maintain.
    if (!cached || !this.strict) return HB_SYS_SUCCESS;
    const start = m.offset + at;
    const began = this.listeners.size === 0 ? 0 : this.now();
    const trusted = this.referenceMayBeMemory(m, at, length);
    const r = (op === 'clean' ? clean : invalidate)(m.region, start, start + length, trusted);
    if (op === 'clean') {
      this.counters.cleans++;
      this.counters.bytesCleaned += length;
    } else {
      this.counters.invalidates++;
      this.counters.bytesInvalidated += length;
      if (this.sanitizer.on) {
        this.sanitizer.device.clear(m.region, start, length);
        this.sanitizer.epoch++;
        this.hazards.invalidated(m.region, start, length);
      }
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

  freeMem(mem: MemSnapshot): HbSysStatusCode {
    const fn = 'hbSysFreeMem';
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
    const cleared = clearVirAddr(mem.source);
    if (typeof cleared === 'string') return failUnfillable(fn, cleared, 'nothing was freed');
    if (this.sanitizer.stacks) m.freeStack = captureStack();
    this.releaseOwner(m);
    this.header[H_LIVE_ALLOCS]!--;
    this.counters.frees++;
    this.counters.bytesRequested -= m.size;
    // Only the sanitizer says more of a use after free than its status code.
    if (this.sanitizer.on) this.ended.set(mem.source, m);
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
    if (this.sanitizer.on) this.cpuWrote(t.m, t.at, size);
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

  /**
   * The sanitizer's view of a CPU write it sees (hbSysWriteMem, buffer.write) of
   * `[at, at + size)` of `m`: the lines were written; through a cached mapping they are
   * dirty whatever the bytes (a store dirties a line even when it writes what was there);
   * through an uncached alias of memory that a registration caches, the cached lines are
   * stale now.
   */
  private cpuWrote(m: Mapping, at: number, size: number): void {
    const start = m.offset + at;
    this.sanitizer.device.written(m.region, start, size);
    if (!this.strict) return;
    if (m.kind === 'registration' || m.cached) {
      markDirty(m.region, start, start + size);
    } else if (m.registrationCount > 0) {
      for (let line = start - (start % CACHE_LINE); line < start + size; line += CACHE_LINE) {
        this.sanitizer.device.markStaleLine(m.region, line);
      }
      this.sanitizer.epoch++;
    }
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
    const reg = new Registration(this.board, {
      id: this.board.nextId(),
      slot,
      owner,
      offset,
      size,
      registeredAt: now,
      label: mem.label ?? owner.label,
      view: this.mappingView(region, offset, size, true),
    });
    this.writeRow(slot, reg.id, KIND_REGISTRATION, region, offset, size, 0, true, now);
    tagView(reg.view!, reg);
    const filled = writeFields(mem.source, (out) => this.setVirAddr(out, reg), false);
    if (typeof filled === 'string') {
      forgetChecker(mem.source);
      this.board.releaseSlot(slot);
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
    const cleared = clearVirAddr(mem.source);
    if (typeof cleared === 'string') return failUnfillable(fn, cleared, 'nothing was unregistered');
    this.unchainRegistration(m);
    this.board.releaseSlot(m.slot);
    this.seen[m.slot] = undefined;
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
      this.cpuWrote(t.m, at, size);
    } else if (how === 'buffer.bytes' || how === 'buffer.view') {
      this.hazards.pointerTaken(how, t.m, at, size);
    } else {
      this.hazards.cpuRead(how, t.m, at, size);
    }
  }

  // --- VIO buffers ---------------------------------------------------------------------

  /** A camera or codec buffer: externally owned memory with a known physical address. */
  vioAlloc(size: number): Owner | string {
    const owner = this.allocOwner('vio', this.physical.vio, size, true, undefined);
    if (typeof owner !== 'string') {
      this.counters.vioBufferCount++;
      this.emitAlloc(owner);
    }
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
    this.releaseOwner(owner);
    this.counters.vioBufferCount--;
    return undefined;
  }

  /**
   * A device (the BPU, a camera) is about to write `[offset, offset + size)` of `region`:
   * the CPU copy's reference must not be memory there any more (cpu-cache.ts), and the
   * sanitizer marks the lines as written by a device.
   */
  deviceWillWrite(region: Region, offset: number, size: number): void {
    if (this.sanitizer.on) {
      this.hazards.deviceWriting(region, offset, size);
      // Written, for the uninitialized-read check, in every cache model.
      if (this.strict) this.sanitizer.device.mark(region, offset, size);
      else this.sanitizer.device.written(region, offset, size);
      this.sanitizer.epoch++;
    }
    if (this.strict) beforeDeviceWrite(region, offset, offset + size);
  }

  /** A device wrote `[offset, offset + size)` of `region` (a BPU job completed). */
  noteDeviceWrite(region: Region, offset: number, size: number): void {
    if (this.sanitizer.on && this.strict) {
      this.sanitizer.device.mark(region, offset, size);
      this.sanitizer.epoch++;
    }
  }

  /**
   * Whether a flush of `[offset, offset + length)` of `m` may keep the CPU copy's reference
   * in memory (cpu-cache.ts): only where the machine sees every writer of the memory, in
   * whole 4 KiB chunks, and with no BPU job in flight over it.
   */
  private referenceMayBeMemory(m: Mapping, at: number, length: number): boolean {
    const owner = m.kind === 'registration' ? m.owner : m;
    if (!(owner.kind === 'vio' || owner.cached)) return false;
    if (owner.offset % REF_CHUNK !== 0 || owner.blockBytes % REF_CHUNK !== 0) return false;
    return this.inFlightOver(m.phyAddr + at, length) === undefined;
  }

  // --- lookups -------------------------------------------------------------------------

  /** What `view` was handed out for by this machine, live or not. Runs no code of `view`'s. */
  mappingOf(view: unknown): Mapping | undefined {
    const m = typeof view === 'object' && view !== null ? MappingTag.of(view) : undefined;
    // A view of an earlier machine (before a reset) is nothing to this one.
    return m !== undefined && (m.region === this.physical.ion || m.region === this.physical.vio)
      ? m
      : undefined;
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
  private setVirAddr(mem: hbSysMem, m: Mapping): void {
    if (!this.sanitizer.on) {
      mem.virAddr = m.view;
      return;
    }
    const d = Object.getOwnPropertyDescriptor(mem, 'virAddr');
    if (d !== undefined && d.configurable === false) {
      mem.virAddr = m.view;
      return;
    }
    const own = (key: symbol, value: unknown) =>
      Object.defineProperty(mem, key, { value, writable: true, configurable: true });
    own(RAW_VIR_ADDR, m.view);
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

  private allocOwner(
    kind: Owner['kind'],
    region: Region,
    size: number,
    cached: boolean,
    label: string | undefined,
  ): Owner | string {
    const pages = Math.ceil(size / region.pageSize);
    const what = kind === 'vio' ? 'VIO region' : 'ION heap';
    const start = pages <= region.allocator.capacity ? region.allocator.alloc(pages) : -1;
    if (start < 0) {
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
    if (this.strict) beforeDeviceWrite(region, offset, offset + blockBytes);
    region.zero(offset, blockBytes, zeroCpuCopy ? 'all' : 'memory');
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
    const owner = new Owner(this.board, this, {
      kind,
      id,
      slot,
      region,
      offset,
      size,
      blockBytes,
      cached,
      label,
      allocatedAt: now,
      allocStack: this.options.stacks ? captureStack() : undefined,
      view: null,
    });
    const k = kind === 'vio' ? KIND_VIO : KIND_ALLOCATION;
    this.writeRow(slot, id, k, region, offset, size, blockBytes, cached, now);
    this.slots[slot * SLOT_STRIDE + S_ZEROED] = zeroCpuCopy ? 1 : 0;
    this.seen[slot] = owner;
    return owner;
  }

  /** Gives `owner`'s block back; `announce` false for one that nobody was told of. */
  private releaseOwner(owner: Owner, announce = true): void {
    owner.region.allocator.free(owner.offset / owner.region.pageSize);
    owner.region.setOwner(owner.offset, owner.blockBytes, 0);
    this.board.releaseSlot(owner.slot);
    this.seen[owner.slot] = undefined;
    owner.view = null;
    if (!announce || this.listeners.size === 0) return;
    this.emit(() => ({
      type: 'free',
      time: this.now(),
      id: owner.id,
      kind: owner.kind,
      phyAddr: owner.phyAddr,
      size: owner.size,
    }));
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
  ): void {
    const s = this.slots;
    const at = slot * SLOT_STRIDE;
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
    if (view === t.m.view) return true;
    return (
      typeof view === 'object' &&
      view !== null &&
      this.adopted.has(view) &&
      t.at === 0 &&
      byteLengthOf.call(view as Uint8Array) === t.m.size
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
    const total = sabByteLengthOf.call(buffer);
    for (const [index, region] of this.physical.regions.entries()) {
      const planes = this.strict ? [region.memory, region.cache, region.shadow] : [region.memory];
      for (const [p, plane] of planes.entries()) {
        const same = buffer === plane.buffer;
        if (!same && total !== region.size + CACHE_LINE * planeCode(this.planeTag, index, p)) {
          continue;
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
const sabByteLengthOf = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')!
  .get! as (this: SharedArrayBuffer) => number;
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
