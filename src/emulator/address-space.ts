/**
 * The address space: which block of which region belongs to which mapping. The truth is
 * the board's slot rows, shared by every thread (board.ts): a row per allocation, VIO
 * buffer and registration, the page → slot table of each region, and the chain of
 * registrations inside each owner. This module writes and reads those rows, and makes
 * this thread's objects for them (mappings.ts) on demand, never on the plain alloc / free
 * path, whose state is the row alone.
 *
 * It knows nothing of handles (handles.ts says which row a caller's mem names), of the
 * cache model or of the sanitizer: what a fresh block must look like is the machine's
 * ({@link FreshBlocks}), and so are the counters and events.
 */

import {
  type Board,
  KIND_ALLOCATION,
  KIND_REGISTRATION,
  KIND_VIO,
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
import { CoarseClock } from './coarse-clock.js';
import { type Mapping, Owner, Registration, type RegistrationSource } from './mappings.js';
import type { PhysicalMemory, Region } from './physical-memory.js';
import { captureStack } from './sanitizer.js';
import type { SharedStrings } from './shared-strings.js';

/** What a block taken for a new owner must hold: the machine's cache model and sanitizer. */
export interface FreshBlocks {
  /**
   * Makes `[offset, offset + blockBytes)` of `region` fresh memory for a new owner (zeroed,
   * as the ION heap hands it out). Returns whether the CPU's copy was zeroed too (uncached
   * memory leaves it until a registration maps it cached).
   */
  prepareBlock(
    region: Region,
    offset: number,
    blockBytes: number,
    kind: Owner['kind'],
    cached: boolean,
  ): boolean;
}

/** What a free event says of a row, read before the row is released. */
export interface FreedRow {
  readonly id: number;
  readonly kind: 'allocation' | 'vio';
  readonly phyAddr: number;
  readonly size: number;
}

export class AddressSpace implements RegistrationSource {
  readonly board: Board;
  readonly physical: PhysicalMemory;
  /** Labels and allocation stacks, shared with every thread (shared-strings.ts). */
  private readonly strings: SharedStrings;
  /** Whether allocation stacks are kept. */
  private readonly stacks: boolean;
  private readonly fresh: FreshBlocks;
  /** The clock of the rows' allocation times: read once per few allocations (coarse-clock.ts). */
  private readonly clock = new CoarseClock();
  /**
   * Label and stack of mappings made here whose strings the shared table had no room for
   * (their row says -2), by id: this thread still shows them.
   */
  private readonly unshared = new Map<number, { label?: string; stack?: string }>();
  /**
   * This thread's objects for the slots it has seen, by slot: made only when something
   * needs one (a flush, a read, a registration, the sanitizer, a dump), never by the plain
   * alloc / free path, whose state is the row alone.
   */
  private readonly seen: (Mapping | undefined)[] = [];

  constructor(
    board: Board,
    physical: PhysicalMemory,
    strings: SharedStrings,
    stacks: boolean,
    fresh: FreshBlocks,
  ) {
    this.board = board;
    this.physical = physical;
    this.strings = strings;
    this.stacks = stacks;
    this.fresh = fresh;
    board.repair = () => this.repair();
  }

  /**
   * Makes the tables whole again from the rows, after a thread ended holding the board's
   * lock (terminated, or exiting, inside a call), which may have left any of them half
   * changed: a block taken from the allocator with no row yet (the heap then lost it), a
   * free list cut in the middle of a split (the heap looked full), a registration half
   * chained. The rows are the truth (a row is live once its id is written, last): each
   * region's allocator and page owners are made anew from its live owners; registrations
   * reached through their owner's chain are chained anew, and one a chain does not reach (a
   * registration not yet chained, or already unchained) ends; the free slots and live counts
   * are counted again. What the ended call had half done otherwise stays: an allocation whose
   * row was written stays live, as it would on the board.
   */
  private repair(): void {
    const s = this.slots;
    const n = this.board.slotCount;
    const live = (slot: number, kind: number) =>
      slot >= 0 &&
      slot < n &&
      s[slot * SLOT_STRIDE + S_ID] !== 0 &&
      s[slot * SLOT_STRIDE + S_KIND] === kind;
    const used: [number, number][][] = this.physical.regions.map(() => []);
    const chains = new Map<number, number[]>();
    for (let slot = 0; slot < n; slot++) {
      const at = slot * SLOT_STRIDE;
      const kind = s[at + S_KIND];
      if (s[at + S_ID] === 0 || (kind !== KIND_ALLOCATION && kind !== KIND_VIO)) continue;
      const region = this.physical.regions[s[at + S_REGION]!]!;
      used[s[at + S_REGION]!]!.push([
        s[at + S_OFFSET]! >>> region.pageShift,
        s[at + S_BLOCK]! >>> region.pageShift,
      ]);
      // The chain as it stands, by its forward links, as far as they lead to this owner's
      // live registrations (a link left by a cut chain, or a stale one, ends it).
      const chain: number[] = [];
      for (
        let r = s[at + S_FIRST_REG]!;
        live(r, KIND_REGISTRATION) && s[r * SLOT_STRIDE + S_OWNER] === slot && !chain.includes(r);
        r = s[r * SLOT_STRIDE + S_NEXT_REG]!
      ) {
        chain.push(r);
      }
      chains.set(slot, chain);
    }
    this.physical.regions.forEach((region, r) => {
      region.allocator.rebuild(used[r]!);
      region.pageOwner.fill(0);
    });
    const chained = new Set<number>();
    for (const [owner, chain] of chains) {
      const at = owner * SLOT_STRIDE;
      this.physical.regions[s[at + S_REGION]!]!.setOwner(
        s[at + S_OFFSET]!,
        s[at + S_BLOCK]!,
        owner + 1,
      );
      s[at + S_REG_COUNT] = chain.length;
      s[at + S_FIRST_REG] = chain.length === 0 ? -1 : chain[0]!;
      chain.forEach((reg, i) => {
        const rat = reg * SLOT_STRIDE;
        s[rat + S_PREV_REG] = i === 0 ? -1 : chain[i - 1]!;
        s[rat + S_NEXT_REG] = i === chain.length - 1 ? -1 : chain[i + 1]!;
        chained.add(reg);
      });
    }
    for (let slot = 0; slot < n; slot++) {
      if (live(slot, KIND_REGISTRATION) && !chained.has(slot)) {
        s[slot * SLOT_STRIDE + S_ID] = 0;
        this.forget(slot, 0);
      }
    }
    this.board.rechainSlots();
  }

  /** The board's slot rows (its current view: it is made anew when the table grows). */
  get slots(): Float64Array {
    return this.board.slots;
  }

  // --- reading the rows ----------------------------------------------------------------

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
        view: mappingView(region, offset, size, true),
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
        view: mappingView(region, offset, size, cached),
      });
    }
    this.seen[slot] = m;
    return m;
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

  /** The live owner of the byte at `offset` of `region`, if any. */
  ownerOf(region: Region, offset: number): Owner | undefined {
    const slot = region.pageOwner[offset >>> region.pageShift];
    if (slot === undefined || slot === 0) return undefined;
    const m = this.mappingAt(slot - 1);
    return m === undefined || m.kind === 'registration' ? undefined : m;
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

  /** What a free event says of the owner in `slot`, read while its row is live. */
  freedRow(slot: number): FreedRow {
    const s = this.slots;
    const row = slot * SLOT_STRIDE;
    const region = this.physical.regions[s[row + S_REGION]!]!;
    return {
      id: s[row + S_ID]!,
      kind: s[row + S_KIND] === KIND_VIO ? 'vio' : 'allocation',
      phyAddr: region.base + s[row + S_OFFSET]!,
      size: s[row + S_SIZE]!,
    };
  }

  // --- owners --------------------------------------------------------------------------

  /**
   * Takes a block of `size` bytes in `region` and a slot whose row says so; returns the
   * slot, or why not. No object is made: the row is the allocation (see mappingAt).
   */
  allocBlock(
    kind: Owner['kind'],
    region: Region,
    size: number,
    cached: boolean,
    label: string | undefined,
  ): number | string {
    const pages = Math.ceil(size / region.pageSize);
    const start = pages <= region.allocator.capacity ? region.allocator.alloc(pages) : -1;
    if (start < 0) return noRoom(kind, region, size);
    const slot = this.board.takeSlot();
    if (slot < 0) {
      region.allocator.free(start);
      return `no room in the table of mappings (${this.board.slotCount} slots are in use)`;
    }
    const offset = start * region.pageSize;
    const blockBytes = pages * region.pageSize;
    const zeroed = this.fresh.prepareBlock(region, offset, blockBytes, kind, cached);
    const id = this.board.nextId();
    // A large block's zeroing takes long enough to show in its time: read the clock anew.
    if (blockBytes >= CLOCK_FRESH_BYTES) this.clock.elapsed();
    const now = this.clock.now();
    region.setOwner(offset, blockBytes, slot + 1);
    this.board.touch(region === this.physical.ion ? 0 : 1, offset, offset + blockBytes);
    // Guarded here, not in stringIndex: the plain path (no label, no stacks) then makes no
    // call that V8 would spend its inlining budget on.
    const stack = this.stacks ? captureStack() : undefined;
    const labelAt = label === undefined ? -1 : this.stringIndex(label);
    const stackAt = stack === undefined ? -1 : this.stringIndex(stack);
    if (labelAt === -2 || stackAt === -2) this.unshared.set(id, { label, stack });
    const k = kind === 'vio' ? KIND_VIO : KIND_ALLOCATION;
    this.writeRow(slot, id, k, region, offset, size, blockBytes, cached, now, labelAt, stackAt);
    this.slots[slot * SLOT_STRIDE + S_ZEROED] = zeroed ? 1 : 0;
    // (Only when set: a store of undefined would grow the array to every slot.)
    if (this.seen[slot] !== undefined) this.forget(slot, 0);
    return slot;
  }

  /** Gives the block of the owner in `slot` back, and the slot. */
  releaseBlock(slot: number): void {
    const s = this.slots;
    const row = slot * SLOT_STRIDE;
    const region = this.physical.regions[s[row + S_REGION]!]!;
    const offset = s[row + S_OFFSET]!;
    // Read before releaseSlot, which reuses the stack's field for its free list.
    const unshared = s[row + S_LABEL] === -2 || s[row + S_STACK] === -2 ? s[row + S_ID]! : 0;
    region.allocator.free(offset >>> region.pageShift);
    region.setOwner(offset, s[row + S_BLOCK]!, 0);
    this.board.releaseSlot(slot);
    if (this.seen[slot] !== undefined || unshared !== 0) this.forget(slot, unshared);
  }

  /**
   * Drops what this thread kept of a released row: its object (whose view dies with it),
   * and its strings kept here (`id`, or 0 for none). Apart from the hot path, which it seldom
   * concerns.
   */
  private forget(slot: number, id: number): void {
    const m = this.seen[slot];
    if (m !== undefined) {
      m.view = null;
      this.seen[slot] = undefined;
    }
    if (id !== 0) this.unshared.delete(id);
  }

  // --- registrations -------------------------------------------------------------------

  /**
   * A row for a registration of `[offset, offset + size)` of `owner`'s region, not yet
   * chained in the owner's (see {@link linkRegistration}); undefined when the table of
   * mappings is full. Its `view` is the caller's to hand out.
   */
  addRegistration(
    owner: Owner,
    offset: number,
    size: number,
    label: string | undefined,
  ): Registration | undefined {
    const slot = this.board.takeSlot();
    if (slot < 0) return undefined;
    const now = performance.now();
    const id = this.board.nextId();
    const reg = new Registration(this.board, {
      id,
      slot,
      owner,
      offset,
      size,
      registeredAt: now,
      label: label ?? owner.label,
      view: null,
    });
    const labelAt = this.stringIndex(label);
    this.writeRow(
      slot,
      id,
      KIND_REGISTRATION,
      owner.region,
      offset,
      size,
      0,
      true,
      now,
      labelAt,
      -1,
    );
    if (labelAt === -2) this.unshared.set(id, { label });
    return reg;
  }

  /** Undoes {@link addRegistration} of a registration nobody was handed. */
  dropRegistration(reg: Registration): void {
    this.board.releaseSlot(reg.slot);
    this.unshared.delete(reg.id);
    reg.view = null;
  }

  /** Chains `reg` in its owner's row: from now on the owner has it inside. */
  linkRegistration(reg: Registration): void {
    this.seen[reg.slot] = reg;
    const s = this.slots;
    const o = reg.owner.slot * SLOT_STRIDE;
    const r = reg.slot * SLOT_STRIDE;
    const first = s[o + S_REG_COUNT] === 0 ? -1 : s[o + S_FIRST_REG]!;
    s[r + S_OWNER] = reg.owner.slot;
    s[r + S_NEXT_REG] = first;
    s[r + S_PREV_REG] = -1;
    if (first >= 0) s[first * SLOT_STRIDE + S_PREV_REG] = reg.slot;
    s[o + S_FIRST_REG] = reg.slot;
    s[o + S_REG_COUNT]!++;
  }

  /** Ends a linked registration: out of its owner's chain, its slot given back. */
  endRegistration(reg: Registration): void {
    const s = this.slots;
    const r = reg.slot * SLOT_STRIDE;
    const o = s[r + S_OWNER]! * SLOT_STRIDE;
    const next = s[r + S_NEXT_REG]!;
    const prev = s[r + S_PREV_REG]!;
    if (prev >= 0) s[prev * SLOT_STRIDE + S_NEXT_REG] = next;
    else s[o + S_FIRST_REG] = next;
    if (next >= 0) s[next * SLOT_STRIDE + S_PREV_REG] = prev;
    s[o + S_REG_COUNT]!--;
    this.board.releaseSlot(reg.slot);
    this.seen[reg.slot] = undefined;
    this.unshared.delete(reg.id);
    reg.view = null;
  }

  // --- rows and strings ----------------------------------------------------------------

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
}

/** This thread's time origin: rows keep times on the wall clock, which every thread shares. */
const TIME_ORIGIN = performance.timeOrigin;

/** Why `size` bytes found no block in `region`, and what to do. */
function noRoom(kind: Owner['kind'], region: Region, size: number): string {
  const what = kind === 'vio' ? 'VIO region' : 'ION heap';
  const free = region.allocator.freeUnits * region.pageSize;
  const largest = region.allocator.largestFree() * region.pageSize;
  return (
    `no room for ${size} bytes in the ${what} of ${region.size} bytes: ${free} bytes ` +
    `are free, the largest free block is ${largest} bytes; free memory` +
    (kind === 'allocation' ? ' or raise heapSize (HB_DNN_SIM_BPU_MEM_SIZE)' : ' or raise vioSize')
  );
}

/** A fresh CPU mapping: the cache plane for cached memory, physical memory otherwise. */
function mappingView(region: Region, offset: number, size: number, cached: boolean): Uint8Array {
  const plane = cached ? region.cache : region.memory;
  return new Uint8Array(plane.buffer, plane.byteOffset + offset, size);
}

/** Blocks of this many bytes or more are stamped with a fresh clock reading. */
const CLOCK_FRESH_BYTES = 256 * 1024;
