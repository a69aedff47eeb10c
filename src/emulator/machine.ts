/**
 * One emulated board: the eight functions as the board runs them, each in the same steps,
 * each step in a module of its own:
 * - the handle: which live mapping the caller's mem refers to, or why none, as a value
 *   (handles.ts); a refusal becomes the finding, message and code in refusals.ts;
 * - the checks of the call (here), and the sanitizer's beside them (hazards.ts);
 * - the address space: which block of which region belongs to which mapping, the slot
 *   rows every thread shares (address-space.ts); a new owner's block made fresh memory
 *   (fresh-blocks.ts);
 * - the cache model's CLEAN and INVALIDATE (cache/);
 * - the out-parameters written into the caller's mem (hand-out.ts);
 * - the counters and events (here).
 * The emulator backend turns each of the eight functions into a call here;
 * `emulator.reset()` makes a new Machine.
 *
 * Each function acts on a snapshot of the caller's hbSysMem (each field read once, by the
 * front) and never reads the caller's object again. It writes the out-parameters before
 * anything irreversible (free, unregister), or undoes its work when the caller's object
 * refuses them (alloc, register): a failing call changes nothing.
 */

import { threadId } from 'node:worker_threads';
import type { RegisterRequest } from '../backend.js';
import { failShrunk, failUnfillable, hex } from '../handle-errors.js';
import { bytesLeft } from '../host-bytes.js';
import type { HbSysFlushFlag, hbSysMem } from '../mem.js';
import { HB_SYS_MEM_CACHE_CLEAN } from '../mem.js';
import { nullVirAddr } from '../out-param.js';
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
import { AddressSpace } from './address-space.js';
import {
  Board,
  type BoardShare,
  COUNTER_NAMES,
  type Counters,
  H_LIVE_ALLOCS,
  H_LIVE_REGS,
  H_NEXT_ID,
  newBoardBuffers,
  S_ID,
  S_OFFSET,
  S_SIZE,
  SLOT_STRIDE,
} from './board.js';
import {
  beforeDeviceWrite,
  clean,
  invalidate,
  linesBehindCache,
  referenceMayBeMemory,
  throughCache,
} from './cache/index.js';
import type { MachineEvent, MachineListener } from './events.js';
import type { FindingsLog } from './findings.js';
import { FreshMemory } from './fresh-blocks.js';
import { fillAllocation, fillChecked, fillRegistration, forgetChecker } from './hand-out.js';
import { Handles, type Target } from './handles.js';
import { Hazards } from './hazards.js';
import { InFlightJobs } from './in-flight.js';
import { jobOver } from './in-flight-job.js';
import { MappedView } from './mapped-view.js';
import type { Mapping, Owner } from './mappings.js';
import type { ResolvedOptions } from './options.js';
import { PhysicalMemory, type PlanePool, type Region } from './physical-memory.js';
import { refuse } from './refusals.js';
import { captureStack, Sanitizer } from './sanitizer.js';
import { SharedStrings } from './shared-strings.js';

export type { Counters } from './board.js';
export type { Refusal, Target } from './handles.js';
export type { InFlightJob, InputSnapshot } from './in-flight-job.js';
export { type Mapping, Owner, Registration } from './mappings.js';

export class Machine {
  readonly options: ResolvedOptions;
  readonly physical: PhysicalMemory;
  readonly strict: boolean;
  readonly sanitizer: Sanitizer;
  /** The sanitizer's checks, which the BPU calls too. */
  readonly hazards: Hazards;
  /** The shared state: slot table, counters, the lock (see board.ts). */
  readonly board: Board;
  /** Which block of which region belongs to which mapping (the slot rows). */
  readonly space: AddressSpace;
  /** Which mapping a caller's mem refers to, or why none. */
  readonly handles: Handles;
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
  private readonly header: Int32Array;

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
    const tag = attach?.planeTag ?? planeTag;
    this.physical = new PhysicalMemory(
      options.heapSize,
      options.vioSize,
      options.pageSize,
      this.strict,
      pool,
      tag,
      attach?.regions,
    );
    const share: BoardShare = attach ?? {
      kind: 'hbsys.board',
      version: 1,
      options,
      madeBy: threadId,
      ...newBoardBuffers(),
      regions: this.physical.regions.map((r) => r.share),
      planeTag: tag,
    };
    this.board = new Board(share, attach === undefined);
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
    const fresh = new FreshMemory(this.strict, this.sanitizer, this);
    const strings = new SharedStrings(share.strings);
    this.space = new AddressSpace(this.board, this.physical, strings, options.stacks, fresh);
    this.handles = new Handles(this.space, this.strict, tag);
  }

  get allocationCount(): number {
    return this.header[H_LIVE_ALLOCS]!;
  }

  get registrationCount(): number {
    return this.header[H_LIVE_REGS]!;
  }

  /** Live owners (allocations and VIO buffers of every thread) by id, built on demand. */
  get owners(): Map<number, Owner> {
    return this.space.owners;
  }

  /** The live owner of the byte at `offset` of `region`, if any. */
  ownerOf(region: Region, offset: number): Owner | undefined {
    return this.space.ownerOf(region, offset);
  }

  /** The live owner whose requested bytes hold all of `[phyAddr, phyAddr + size)`, if one does. */
  ownerCovering(phyAddr: number, size: number): Owner | undefined {
    return this.space.ownerCovering(phyAddr, size);
  }

  /** What `view` was handed out for by this machine, live or not. Runs no code of `view`'s. */
  mappingOf(view: unknown): Mapping | undefined {
    return this.handles.mappingOf(view);
  }

  /** The mapping `mem` refers to, if it is live and consistent; else undefined. */
  lookup(mem: MemSnapshot): Target | undefined {
    return this.handles.lookup(mem);
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
    if (live >= this.options.maxAllocations) return budgetSpent(fn, live, this.options);
    const region = this.physical.ion;
    const slot = this.space.allocBlock('allocation', region, size, cached, label);
    if (typeof slot === 'string') return fail(HB_SYS_OUT_OF_MEMORY, fn, slot);
    const s = this.space.slots;
    const row = slot * SLOT_STRIDE;
    const offset = s[row + S_OFFSET]!;
    // Only the sanitizer needs this thread's object from the start (its checks hold it).
    const m = this.sanitizer.on ? (this.space.mappingAt(slot) as Owner) : undefined;
    const plane = cached ? region.cache : region.memory;
    const view = MappedView.handOut(
      plane.buffer,
      plane.byteOffset + offset,
      size,
      m ?? s[row + S_ID]!,
    );
    if (m !== undefined) m.view = view;
    const phyAddr = region.base + offset;
    const filled =
      m === undefined
        ? fillAllocation(mem, phyAddr, view, size)
        : fillChecked(mem, phyAddr, view, size, m, this.hazards);
    if (typeof filled === 'string') {
      // The caller cannot hold the block: give it back before anyone saw it.
      forgetChecker(mem);
      this.space.releaseBlock(slot);
      return failUnfillable(fn, filled, 'nothing was allocated');
    }
    this.header[H_LIVE_ALLOCS]!++;
    const c = this.counterValues;
    c[C_ALLOCS]!++;
    c[C_BYTES_REQUESTED]! += size;
    if (this.listeners.size > 0) this.emitAlloc(this.space.mappingAt(slot) as Owner);
    const inUse = this.bytesInUse;
    if (inUse > c[C_PEAK]!) c[C_PEAK] = inUse;
    return HB_SYS_SUCCESS;
  }

  /**
   * hbSysFlushMem, in three steps: the handle (the live mapping and the bytes to flush, or
   * the refusal), the cache model's CLEAN or INVALIDATE (cache/), the sanitizer's checks
   * before it (which throw in throw mode before anything changes) and its note after.
   */
  flushMem(mem: MemSnapshot, flag: HbSysFlushFlag): HbSysStatusCode {
    const fn = 'hbSysFlushMem';
    const t = this.handles.resolveBytes(mem);
    if (!t.ok) return refuse(this, fn, mem, t);
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
    // The counters' array, not their accessors: a flush is a call of every frame.
    const c = this.counterValues;
    if (op === 'clean') {
      c[C_CLEANS]!++;
      c[C_BYTES_CLEANED]! += length;
    } else {
      c[C_INVALIDATES]!++;
      c[C_BYTES_INVALIDATED]! += length;
      if (this.sanitizer.on) this.hazards.invalidated(m.region, start, length);
    }
    c[C_BYTES_WRITTEN_BACK]! += r.writtenBack;
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
    const quick = this.freeAsHandedOut(mem);
    if (quick !== undefined) return quick;
    const t = this.handles.resolveHandedOut(mem);
    if (!t.ok) return refuse(this, fn, mem, t);
    const { m } = t;
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
    const cleared = nullVirAddr(mem.source, mem.virAddrField);
    if (typeof cleared === 'string') return failUnfillable(fn, cleared, 'nothing was freed');
    if (this.sanitizer.stacks) m.freeStack = captureStack();
    this.releaseBlock(m.slot);
    this.header[H_LIVE_ALLOCS]!--;
    this.counters.frees++;
    this.counters.bytesRequested -= m.size;
    // Only the sanitizer says more of a use after free than its status code.
    if (this.sanitizer.on) this.handles.noteEnded(mem.source, m);
    return HB_SYS_SUCCESS;
  }

  /**
   * hbSysFreeMem of the mem an allocation filled, unchanged, with the sanitizer off (the
   * common case), from the row alone: no object is made for it. Undefined when the mem is
   * anything else (a crop, a registration, one with registrations inside or held by a
   * task, a stale or foreign one): then the full path decides, and says why.
   */
  private freeAsHandedOut(mem: MemSnapshot): HbSysStatusCode | undefined {
    if (this.sanitizer.on) return undefined;
    const slot = this.handles.plainAllocation(mem);
    if (slot < 0) return undefined;
    const s = this.space.slots;
    const row = slot * SLOT_STRIDE;
    const size = s[row + S_SIZE]!;
    if (this.memoryHolder?.(this.physical.ion.base + s[row + S_OFFSET]!, size) !== undefined) {
      return undefined;
    }
    const cleared = nullVirAddr(mem.source, mem.virAddrField);
    if (typeof cleared === 'string') {
      return failUnfillable('hbSysFreeMem', cleared, 'nothing was freed');
    }
    // The address space's release called here when nobody listens: one call fewer, which
    // V8 inlines.
    if (this.listeners.size > 0) this.releaseBlock(slot);
    else this.space.releaseBlock(slot);
    this.header[H_LIVE_ALLOCS]!--;
    this.counterValues[C_FREES]!++;
    this.counterValues[C_BYTES_REQUESTED]! -= size;
    return HB_SYS_SUCCESS;
  }

  writeMem(dest: MemSnapshot, src: Uint8Array, size: number): HbSysStatusCode {
    const fn = 'hbSysWriteMem';
    const t = this.handles.resolveBytes(dest);
    if (!t.ok) return refuse(this, fn, dest, t);
    if (size > t.length) return tooLarge(fn, size, t.length);
    const left = bytesLeft(src);
    if (left < size) return failShrunk(fn, 'src', size, left);
    if (this.sanitizer.on) this.hazards.cpuWrite(fn, t.m, t.at, size);
    t.m.view!.set(left === size ? src : subarrayOf.call(src, 0, size), t.at);
    if (this.sanitizer.on) this.hazards.cpuWrote(t.m, t.at, size);
    return HB_SYS_SUCCESS;
  }

  readMem(dest: Uint8Array, src: MemSnapshot, size: number): HbSysStatusCode {
    const fn = 'hbSysReadMem';
    const t = this.handles.resolveBytes(src);
    if (!t.ok) return refuse(this, fn, src, t);
    if (size > t.length) return tooLarge(fn, size, t.length);
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
    const refused = (why: string): HbSysFailureCode => {
      if (this.sanitizer.on) this.hazards.registerFailed(phyAddr, size, why);
      return fail(HB_SYS_REGISTER_MEM_FAILED, fn, `${range} ${why}`);
    };
    const owner = this.space.ownerCovering(phyAddr, size);
    if (owner === undefined) {
      return refused(
        'is not inside one live allocation or VIO buffer: register a range of ' +
          'memory the system knows (emulator.vio.alloc makes a camera buffer)',
      );
    }
    for (const r of owner.registrations) {
      if (phyAddr < r.phyAddr + r.size && r.phyAddr < phyAddr + size) {
        return refused(
          `overlaps the live registration [0x${hex(r.phyAddr)}, ` +
            `0x${hex(r.phyAddr + r.size)}): unregister it first, or reuse its mem`,
        );
      }
    }
    const region = owner.region;
    const offset = phyAddr - region.base;
    const reg = this.space.addRegistration(owner, offset, size, mem.label);
    if (reg === undefined) return refused('cannot be registered: the table of mappings is full');
    const view = MappedView.handOut(
      region.cache.buffer,
      region.cache.byteOffset + offset,
      size,
      reg,
    );
    reg.view = view;
    const filled = fillRegistration(
      mem.source,
      view,
      reg,
      this.sanitizer.on ? this.hazards : undefined,
    );
    if (typeof filled === 'string') {
      forgetChecker(mem.source);
      this.space.dropRegistration(reg);
      return failUnfillable(fn, filled, 'nothing was registered');
    }
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
    this.space.linkRegistration(reg);
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
    const t = this.handles.resolveHandedOut(mem);
    if (!t.ok) return refuse(this, fn, mem, t);
    const { m } = t;
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
    const cleared = nullVirAddr(mem.source, mem.virAddrField);
    if (typeof cleared === 'string') return failUnfillable(fn, cleared, 'nothing was unregistered');
    this.space.endRegistration(m);
    this.header[H_LIVE_REGS]!--;
    this.counters.unregistrations++;
    this.emit(() => ({
      type: 'unregister',
      time: this.now(),
      phyAddr: m.phyAddr,
      size: m.size,
      ownerId: m.owner.id,
    }));
    if (this.sanitizer.on) this.handles.noteEnded(mem.source, m);
    return HB_SYS_SUCCESS;
  }

  isCached(mem: MemSnapshot): boolean | undefined {
    const t = this.handles.lookup(mem);
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
    const t = this.handles.lookup(mem);
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
    const slot = this.space.allocBlock('vio', this.physical.vio, size, true, undefined);
    if (typeof slot === 'string') return slot;
    const owner = this.space.mappingAt(slot) as Owner;
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

  // --- devices and the cache model -----------------------------------------------------

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

  /** A BPU job in flight that uses a byte of `[phyAddr, phyAddr + size)`, with that range. */
  inFlightOver(phyAddr: number, size: number): ReturnType<typeof jobOver> {
    return this.inFlight.any ? jobOver(this.inFlight, phyAddr, size) : undefined;
  }

  // --- events --------------------------------------------------------------------------

  /** Gives the block of the owner in `slot` back (address-space.ts), and tells the listeners. */
  private releaseBlock(slot: number): void {
    const event = this.listeners.size > 0 ? this.space.freedRow(slot) : undefined;
    this.space.releaseBlock(slot);
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
}

/** Indexes of the counters the alloc and free path keep. */
const C_PEAK = COUNTER_NAMES.indexOf('peakBytesInUse');
const C_ALLOCS = COUNTER_NAMES.indexOf('allocs');
const C_FREES = COUNTER_NAMES.indexOf('frees');
const C_BYTES_REQUESTED = COUNTER_NAMES.indexOf('bytesRequested');
const C_CLEANS = COUNTER_NAMES.indexOf('cleans');
const C_INVALIDATES = COUNTER_NAMES.indexOf('invalidates');
const C_BYTES_CLEANED = COUNTER_NAMES.indexOf('bytesCleaned');
const C_BYTES_INVALIDATED = COUNTER_NAMES.indexOf('bytesInvalidated');
const C_BYTES_WRITTEN_BACK = COUNTER_NAMES.indexOf('bytesWrittenBack');

/** The header of this thread's last machine, whose ids a new machine continues. */
let lastHeader: Int32Array | undefined;

const subarrayOf = Uint8Array.prototype.subarray;

function budgetSpent(fn: string, live: number, options: ResolvedOptions): HbSysFailureCode {
  return fail(
    HB_SYS_OUT_OF_MEMORY,
    fn,
    `descriptor budget spent: ${live} allocations are live and ` +
      `maxAllocations is ${options.maxAllocations}; free some (is one leaking in a loop?)`,
  );
}

function tooLarge(fn: string, size: number, length: number): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `size ${size} is larger than mem.memSize (${length}): copy at most memSize bytes`,
  );
}
