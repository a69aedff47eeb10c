/**
 * Handles: which live mapping a caller's mem (a {@link MemSnapshot}) refers to, and where
 * in it, or why it refers to none. Every function of the machine that takes a mem starts
 * here; what it gets back is a {@link Target} or a {@link Refusal}, a value that names the
 * reason and carries the facts its message needs. Nothing here records a failure, makes a
 * finding or writes the caller's object: the machine turns a refusal into the status code,
 * the message and the sanitizer's finding, in one place (refusals.ts).
 *
 * How a view is known: every mapping handed out is a MappedView (mapped-view.ts) carrying
 * the allocation's id, or this thread's object for a registration (and for every mapping
 * under the sanitizer). A mem is live only while that id is still in the row its page
 * names (or the object is still live) and its `phyAddr` matches. Ids are never reused, so
 * a stale copy of a freed mem can never reach the memory of whoever got the same address
 * next. A view that came from another thread (postMessage) carries no tag: it is found by
 * its plane and address, and tagged here (`adopt`), as if handed out in this thread. What
 * a lookup keeps is memo only: that tag (with a `subarray` that tags the view's crops), and
 * this thread's object for a row (address-space.ts).
 */

import type { MemSnapshot } from '../snapshot.js';
import type { AddressSpace } from './address-space.js';
import { KIND_ALLOCATION, S_ID, S_KIND, S_OFFSET, S_REG_COUNT, SLOT_STRIDE } from './board.js';
import { MappedView } from './mapped-view.js';
import { type Mapping, Owner } from './mappings.js';
import { type PhysicalMemory, planeMark, type Region } from './physical-memory.js';

/**
 * A live mapping, where in it a mem starts (a sub-range mem, a crop, starts inside), and
 * the bytes it spans.
 */
export interface Target {
  readonly ok: true;
  readonly m: Mapping;
  /** Offset of the mem's first byte in the mapping. */
  readonly at: number;
  /**
   * The bytes the mem spans: its `memSize`, checked against the mapping
   * ({@link Handles.resolveBytes}), or else the rest of the mapping from `at`.
   */
  readonly length: number;
}

/**
 * Why a mem is no handle the call can use, with the facts its message needs. The reasons,
 * in the order they are checked:
 * - `null`: `virAddr` is null or undefined (`ended`: the mapping this very object freed or
 *   unregistered, when the sanitizer noted it);
 * - `foreign`: `virAddr` is no mapping this machine handed out;
 * - `stale`: the mapping `m` was freed or unregistered;
 * - `outside`: `virAddr` is a view of `m`'s plane that starts outside `m`;
 * - `phyAddr`: `phyAddr` (`given`) is not `m`'s address plus `at`;
 * - `memSize`: `memSize` (`given`) is no byte count from `at` to inside `m`;
 * - `subRange`: a crop `at` bytes into `m`, where only the mem handed out will do.
 */
export type Refusal =
  | { readonly ok: false; readonly reason: 'null'; readonly ended: Mapping | undefined }
  | { readonly ok: false; readonly reason: 'foreign' }
  | { readonly ok: false; readonly reason: 'stale'; readonly m: Mapping }
  | { readonly ok: false; readonly reason: 'outside'; readonly m: Mapping }
  | {
      readonly ok: false;
      readonly reason: 'phyAddr';
      readonly m: Mapping;
      readonly at: number;
      readonly given: unknown;
    }
  | {
      readonly ok: false;
      readonly reason: 'memSize';
      readonly m: Mapping;
      readonly at: number;
      readonly given: unknown;
    }
  | { readonly ok: false; readonly reason: 'subRange'; readonly m: Mapping; readonly at: number };

export class Handles {
  private readonly space: AddressSpace;
  private readonly physical: PhysicalMemory;
  private readonly strict: boolean;
  private readonly planeTag: number;
  /** Mems whose memory was freed or unregistered through them, for the sanitizer. */
  private readonly ended = new WeakMap<object, Mapping>();
  /** Views that came from another thread (by postMessage) and were resolved here. */
  private readonly adopted = new WeakSet<object>();

  constructor(space: AddressSpace, strict: boolean, planeTag: number) {
    this.space = space;
    this.physical = space.physical;
    this.strict = strict;
    this.planeTag = planeTag;
  }

  /**
   * The live mapping `mem` refers to and where in it `mem` starts, or why none. A
   * sub-range mem (`phyAddr + off`, `virAddr.subarray(off)`) is accepted where it lies
   * inside its mapping, as on the board.
   */
  resolve(mem: MemSnapshot): Target | Refusal {
    const view = mem.virAddr;
    if (view === null || view === undefined) {
      return { ok: false, reason: 'null', ended: this.ended.get(mem.source) };
    }
    const m = this.mappingOf(view) ?? this.adopt(view, mem.phyAddr)?.m;
    if (m === undefined) return FOREIGN;
    if (!m.live) return { ok: false, reason: 'stale', m };
    const at = offsetInMapping(view as Uint8Array, m);
    if (at < 0 || at >= m.size) return { ok: false, reason: 'outside', m };
    if (typeof mem.phyAddr !== 'bigint' || Number(mem.phyAddr) !== m.phyAddr + at) {
      return { ok: false, reason: 'phyAddr', m, at, given: mem.phyAddr };
    }
    return { ok: true, m, at, length: m.size - at };
  }

  /** {@link resolve}, and `mem.memSize` checked: a byte count from `at` to inside the mapping. */
  resolveBytes(mem: MemSnapshot): Target | Refusal {
    const t = this.resolve(mem);
    if (!t.ok) return t;
    const n = mem.memSize;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > t.length) {
      return { ok: false, reason: 'memSize', m: t.m, at: t.at, given: n };
    }
    // The whole rest of the mapping (the common case): the target as it is, no new object.
    return n === t.length ? t : { ok: true, m: t.m, at: t.at, length: n };
  }

  /**
   * {@link resolve}, for the calls that end a mapping (free, unregister): only the mem
   * handed out will do, this thread's own or, for a mem that came from another thread, its
   * whole view.
   */
  resolveHandedOut(mem: MemSnapshot): Target | Refusal {
    const t = this.resolve(mem);
    if (!t.ok) return t;
    const view = mem.virAddr as object;
    const tag = MappedView.tagOf(view);
    const whole =
      typeof tag === 'number'
        ? tag === t.m.id
        : tag !== undefined
          ? view === t.m.view
          : this.adopted.has(view) &&
            t.at === 0 &&
            byteLengthOf.call(view as Uint8Array) === t.m.size;
    return whole ? t : { ok: false, reason: 'subRange', m: t.m, at: t.at };
  }

  /** The mapping `mem` refers to, if it is live and consistent; else undefined. */
  lookup(mem: MemSnapshot): Target | undefined {
    const t = this.resolve(mem);
    return t.ok ? t : undefined;
  }

  /**
   * The slot of the allocation whose mem, as its alloc call filled it, `mem` is (the
   * view handed out, the same `phyAddr`), when that allocation has no registration inside;
   * else -1, and {@link resolveHandedOut} says more. The free path's handle, from the row
   * alone: no object is made.
   */
  plainAllocation(mem: MemSnapshot): number {
    const view = mem.virAddr;
    if (typeof view !== 'object' || view === null) return -1;
    const id = MappedView.tagOf(view);
    if (typeof id !== 'number' || id < 0) return -1;
    // The view handed out starts on its block's first page (slotOfView's one lookup, spelled
    // out: this runs on every free).
    const ion = this.physical.ion;
    const slot =
      ion.pageOwner[
        (byteOffsetOf.call(view as Uint8Array) - ion.memory.byteOffset) >>> ion.pageShift
      ]! - 1;
    if (slot < 0) return -1;
    const s = this.space.slots;
    const row = slot * SLOT_STRIDE;
    if (s[row + S_ID] !== id) return -1;
    if (s[row + S_KIND] !== KIND_ALLOCATION || s[row + S_REG_COUNT] !== 0) return -1;
    const phyAddr = ion.base + s[row + S_OFFSET]!;
    if (typeof mem.phyAddr !== 'bigint' || Number(mem.phyAddr) !== phyAddr) return -1;
    return slot;
  }

  /** Notes that `mem`'s mapping `m` was freed or unregistered through it (sanitizer on). */
  noteEnded(mem: object, m: Mapping): void {
    this.ended.set(mem, m);
  }

  /** What `view` was handed out for by this machine, live or not. Runs no code of `view`'s. */
  mappingOf(view: unknown): Mapping | undefined {
    if (typeof view !== 'object' || view === null) return undefined;
    const tag = MappedView.tagOf(view);
    if (typeof tag === 'number') {
      const slot = this.slotOfView(view as Uint8Array, Math.abs(tag));
      if (slot >= 0) return this.space.mappingAt(slot);
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
    const slots = this.space.slots;
    const at = byteOffsetOf.call(view) - region.memory.byteOffset;
    const slot = region.pageOwner[at >>> region.pageShift]! - 1;
    if (slot >= 0 && slots[slot * SLOT_STRIDE + S_ID] === id) return slot;
    // An empty crop at the very end (subarray(size)) starts on the page after the block.
    const last = at > 0 ? region.pageOwner[(at - 1) >>> region.pageShift]! - 1 : -1;
    return last >= 0 && slots[last * SLOT_STRIDE + S_ID] === id ? last : -1;
  }

  /**
   * What an allocation's view whose row has ended still says (the sanitizer off: no object
   * was kept for it): where it is, for the messages about a stale handle (slot 0 holds
   * another id: it is never live).
   */
  private endedAllocation(view: Uint8Array, id: number): Owner | undefined {
    const region = this.regionOfView(view);
    if (region === undefined) return undefined;
    return new Owner(this.space.board, this.space, {
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
   * A mem that crossed from another thread (postMessage), or was rebuilt from its fields:
   * its `virAddr` views a plane of this machine but carries no tag of this thread. Which
   * plane it views is its buffer (Node hands a thread one object per shared buffer), or
   * failing that the buffer's length (see Region); what it maps, `phyAddr` and the slot
   * table say. Found, it is tagged here, as if handed out in this thread. As on the board,
   * such a pointer is good while the memory is live: a stale one whose address was
   * allocated again reaches the new owner (a tagged view never does).
   */
  private adopt(view: unknown, phyAddr: unknown): { m: Mapping } | undefined {
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
        const owner = this.space.ownerOf(region, byteOffset);
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
        return { m };
      }
    }
    return;
  }
}

/** The one `foreign` refusal: it carries no facts. */
const FOREIGN: Refusal = { ok: false, reason: 'foreign' };

/** Views that came from another thread, in every machine of this thread (for subarray). */
const adoptedViews = new WeakSet<object>();

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
 * What each adopted view maps, as a private field of the view itself. A private field
 * cannot be read, forged or faked by a program (a Proxy or a getter never sees it, and
 * `#mapping in x` runs no code of x's), and unlike a WeakMap entry it costs the garbage
 * collector nothing extra for each view.
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
const byteOffsetOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteOffset')!.get! as (
  this: Uint8Array,
) => number;
const bufferOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'buffer')!.get! as (
  this: Uint8Array,
) => ArrayBufferLike;

/** The plane a mapping views: the cache for cached mappings, memory otherwise. */
function planeOf(m: Mapping): Buffer {
  return m.kind === 'registration' || m.cached ? m.region.cache : m.region.memory;
}

/**
 * Tags a mapping's view, and makes its `subarray` tag what it returns: a sub-range mem
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
 * `subarray` of the adopted views: one function for all (its mapping is the view's tag).
 * Only a view of the mapping's own plane is tagged: called on anything else, it is the
 * plain `subarray`.
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
