/**
 * The emulated board's physical address space: regions of shared memory at the addresses
 * the X3 uses, each with the planes the cache model needs. Each plane is a shared
 * `PlaneMemory` (plane-memory.ts): its buffer is a SharedArrayBuffer, and zeroing
 * runs at `memory.fill` speed.
 *
 * - `memory`: physical memory itself, what the BPU and uncached mappings see.
 * - `cache`: the CPU's copy of each 64-byte line, what cached mappings see. It is kept per
 *   physical address, so two cached mappings of the same memory agree, as a physically
 *   indexed cache does.
 * - `shadow`: each line as it was when the cache last agreed with memory (fill, clean or
 *   invalidate). A line whose `cache` differs from its `shadow` is dirty: the CPU wrote it.
 *   This is how the model sees CPU writes made straight into a Uint8Array.
 *
 * Under the `coherent` cache model only `memory` exists and cached mappings view it.
 *
 * A new address space takes over the planes of a replaced one (`emulator.reset()`) from a
 * {@link PlanePool} when their sizes match, and clears the part that was ever allocated. A
 * replaced machine's buffers would otherwise be freed only by a full garbage collection, and
 * memory grows with every reset (a gigabyte and more in a loop of a few hundred). Views kept
 * from before a reset can therefore see a later machine's memory: a program must not use them.
 */

import type { RegionShare } from './board.js';
import {
  newPlaneMemory,
  type PlaneMemory,
  type PlaneOps,
  planeOps,
  WASM_PAGE,
} from './plane-memory.js';
import { Tlsf } from './tlsf.js';

/** A CPU cache line, in bytes (Cortex-A53 and A55 both use 64). */
export const CACHE_LINE = 64;

/**
 * What the CPU sees of fresh cached memory under the sanitizer, before it writes or
 * INVALIDATEs (0xA5, as debug heaps fill memory nobody wrote).
 */
export const FRESH_PATTERN = 0xa5;

/** The granule of `Region.refInMemory`, in bytes. */
export const REF_CHUNK = 4096;

/** Where the X3 puts the ION heap that hbSysAllocMem draws from. */
export const ION_HEAP_BASE = 0x0400_0000;

/** The VIO region (camera, codec buffers) starts at the first 256 MiB boundary past the heap. */
const VIO_ALIGN = 0x1000_0000;

export type RegionName = 'ion' | 'vio';

/** One contiguous range of physical memory, with its planes and its page allocator. */
export class Region {
  readonly name: RegionName;
  /** Physical address of the first byte. */
  readonly base: number;
  readonly size: number;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly memory: Buffer;
  readonly cache: Buffer;
  readonly shadow: Buffer;
  /** Whether `cache` is a separate plane (strict model) or `memory` itself (coherent). */
  readonly strict: boolean;
  readonly allocator: Tlsf;
  /**
   * Per 4 KiB chunk (see cache/maintenance.ts): 1 where the CPU copy's reference is memory itself
   * rather than the shadow plane, which is then stale and not read.
   */
  readonly refInMemory: Uint8Array;
  /** Owner id of every page (an allocation or VIO buffer), 0 where none. */
  readonly pageOwner: Int32Array;
  /** The sanitizer's marks, one byte a cache line (see DeviceLines). */
  readonly lineStale: Uint8Array;
  readonly lineWritten: Uint8Array;
  /** Its shared parts, for another thread to attach to. */
  readonly share: RegionShare;
  /** The planes' memories: memory, then (strict model) cache and shadow. */
  readonly planeMemories: readonly PlaneMemory[];
  /** `memory.fill` and `memory.copy` on each plane, in the order of `planeMemories`. */
  readonly planeOps: readonly PlaneOps[];
  /**
   * The byte range that ever had an owner: nothing outside it was written (every write,
   * CPU or device, lands in an owned block), so it is all a reuse of the planes clears.
   */
  dirtyStart = Number.POSITIVE_INFINITY;
  dirtyEnd = 0;

  constructor(
    name: RegionName,
    base: number,
    size: number,
    pageSize: number,
    strict: boolean,
    source: PlaneSource = freshPlanes,
    planeTag = 0,
    attach?: RegionShare,
  ) {
    this.name = name;
    this.base = base;
    this.size = size;
    this.pageSize = pageSize;
    this.pageShift = 31 - Math.clz32(pageSize);
    this.strict = strict;
    // Each plane's buffer is a little longer than the region (whole WebAssembly pages, at
    // least PLANE_MARK bytes more), and its last bytes name the plane (see planeMark): a
    // view that crossed from another thread is then known by its buffer's contents, as
    // buffers themselves cannot be compared across threads.
    const index = name === 'ion' ? 0 : 1;
    const memories = attach?.planes ?? [];
    if (attach === undefined) {
      for (let p = 0; p < (strict ? 3 : 1); p++) {
        const memory = source.plane(size + PLANE_MARK);
        writePlaneMark(memory.buffer as SharedArrayBuffer, planeTag, index, p);
        memories.push(memory);
      }
    }
    this.planeMemories = memories;
    this.planeOps = memories.map(planeOps);
    const [memory, cache = memory, shadow = memory] = memories.map(
      (m) => m.buffer as SharedArrayBuffer,
    ) as [SharedArrayBuffer, SharedArrayBuffer?, SharedArrayBuffer?];
    this.share = attach ?? {
      memory,
      cache,
      shadow,
      planes: memories,
      // Side tables come from the pool as the planes do (a reset loop would grow otherwise).
      pageOwner: source.table((size / pageSize) * 4),
      refInMemory: source.table(Math.ceil(size / REF_CHUNK)),
      lineStale: source.table(Math.ceil(size / CACHE_LINE)),
      lineWritten: source.table(Math.ceil(size / CACHE_LINE)),
      allocator: new Tlsf(size / pageSize).storage,
    };
    this.memory = Buffer.from(memory, 0, size);
    this.cache = strict ? Buffer.from(cache, 0, size) : this.memory;
    this.shadow = strict ? Buffer.from(shadow, 0, size) : this.memory;
    this.allocator = new Tlsf(size / pageSize, this.share.allocator);
    this.pageOwner = new Int32Array(this.share.pageOwner);
    this.refInMemory = new Uint8Array(this.share.refInMemory);
    this.lineStale = new Uint8Array(this.share.lineStale);
    this.lineWritten = new Uint8Array(this.share.lineWritten);
  }

  /** Whether `[addr, addr + length)` lies inside this region. */
  contains(addr: number, length: number): boolean {
    return addr >= this.base && addr + length <= this.base + this.size;
  }

  /**
   * Zero `[offset, offset + length)` of physical memory, of the CPU's copy (cache and
   * shadow), of both (the default), or of the cache plane alone (strict model: its
   * reference is then memory, see cache/maintenance.ts): no previous owner's byte survives.
   */
  zero(offset: number, length: number, planes: 'all' | 'memory' | 'cpu' | 'cache' = 'all'): void {
    const ops = this.planeOps;
    const first = planes === 'cpu' || planes === 'cache' ? 1 : 0;
    const last = planes === 'memory' ? 1 : planes === 'cache' ? 2 : ops.length;
    for (let i = first; i < last; i++) ops[i]!.fill(offset, 0, length);
  }

  /**
   * Fills the CPU's copy (cache and shadow) of `[offset, offset + length)` with
   * {@link FRESH_PATTERN}, memory untouched: the sanitizer's fresh cached memory, whose
   * lines any CPU write makes dirty, zeros included. Strict model only.
   */
  fillCpuCopy(offset: number, length: number): void {
    this.planeOps[1]!.fill(offset, FRESH_PATTERN, length);
    this.planeOps[2]!.fill(offset, FRESH_PATTERN, length);
  }

  setOwner(offset: number, length: number, owner: number): void {
    const first = offset >>> this.pageShift;
    const end = (offset + length) >>> this.pageShift;
    // One page (most small blocks): a store, not a call of fill.
    if (end === first + 1) this.pageOwner[first] = owner;
    else this.pageOwner.fill(owner, first, end);
    if (owner === 0) return;
    if (offset < this.dirtyStart) this.dirtyStart = offset;
    if (offset + length > this.dirtyEnd) this.dirtyEnd = offset + length;
  }

  /** The distinct plane buffers, each with the range of it that was ever written. */
  planeBuffers(): PooledPlane[] {
    const used = this.dirtyEnd > this.dirtyStart;
    const start = used ? this.dirtyStart : 0;
    const end = used ? this.dirtyEnd : 0;
    /** A side table of one `unit`-byte entry per `per` bytes of the region. */
    const side = (buffer: SharedArrayBuffer, per: number, unit: number): PooledPlane => ({
      buffer,
      memory: undefined,
      start: Math.floor(start / per) * unit,
      end: Math.ceil(end / per) * unit,
    });
    return [
      ...this.planeMemories.map((memory) => ({
        buffer: memory.buffer as SharedArrayBuffer,
        memory,
        start,
        end,
      })),
      side(this.share.pageOwner, this.pageSize, 4),
      side(this.share.refInMemory, REF_CHUNK, 1),
      side(this.share.lineStale, CACHE_LINE, 1),
      side(this.share.lineWritten, CACHE_LINE, 1),
    ];
  }
}

/** Bytes past the region's end, in each plane, that name it (see planeMark). */
export const PLANE_MARK = 16;

/** The first word of a plane's mark. */
const MARK_MAGIC = 0x6862_7379;

/**
 * Names a plane in its last {@link PLANE_MARK} bytes, past the region (nothing maps them):
 * the process's tag, the region (0 ION, 1 VIO) and the plane (0 memory, 1 cache, 2 shadow).
 */
function writePlaneMark(buffer: SharedArrayBuffer, tag: number, region: number, plane: number) {
  new Int32Array(buffer, buffer.byteLength - PLANE_MARK, 4).set([MARK_MAGIC, tag, region, plane]);
}

/**
 * What a plane buffer's mark says, `[tag, region, plane]`, or undefined for a buffer that
 * carries none (not a plane, or one too short).
 */
export function planeMark(buffer: SharedArrayBuffer): [number, number, number] | undefined {
  const length = sabByteLengthOf.call(buffer);
  if (length < PLANE_MARK || length % 4 !== 0) return undefined;
  const w = new Int32Array(buffer, length - PLANE_MARK, 4);
  return w[0] === MARK_MAGIC ? [w[1]!, w[2]!, w[3]!] : undefined;
}

/** The engine's own getter (a program may replace the prototype's). */
const sabByteLengthOf = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')!
  .get! as (this: SharedArrayBuffer) => number;

/** A plane buffer handed from a replaced address space to a later one. */
interface PooledPlane {
  readonly buffer: SharedArrayBuffer;
  /** The memory whose buffer it is (a plane), or undefined (a side table). */
  readonly memory: PlaneMemory | undefined;
  /** The byte range that may hold data (page-aligned): cleared before reuse. */
  readonly start: number;
  readonly end: number;
}

/** Where a Region gets its zeroed planes and side tables of at least `size` bytes. */
interface PlaneSource {
  plane(size: number): PlaneMemory;
  table(size: number): SharedArrayBuffer;
}

const freshPlanes: PlaneSource = {
  plane: newPlaneMemory,
  table: (size) => new SharedArrayBuffer(size),
};

/**
 * Planes of address spaces nobody uses any more (their machine replaced, their BPU worker
 * gone), by size, for the next address space to take.
 */
export class PlanePool {
  private readonly bySize = new Map<number, PooledPlane[]>();
  private readonly held = new Set<SharedArrayBuffer>();

  /** Offers every plane of `physical`, which must never be used again. */
  add(physical: PhysicalMemory): void {
    for (const region of physical.regions) {
      for (const plane of region.planeBuffers()) {
        if (this.held.has(plane.buffer)) continue;
        this.held.add(plane.buffer);
        const size = plane.buffer.byteLength;
        this.bySize.set(size, [...(this.bySize.get(size) ?? []), plane]);
      }
    }
  }

  /** Moves every plane of `other` here. */
  takeAll(other: PlanePool): void {
    for (const planes of other.bySize.values()) {
      for (const plane of planes) {
        if (this.held.has(plane.buffer)) continue;
        this.held.add(plane.buffer);
        const size = plane.buffer.byteLength;
        this.bySize.set(size, [...(this.bySize.get(size) ?? []), plane]);
      }
    }
    other.clear();
  }

  /** A plane (a memory) or side table of `size` bytes, not yet cleared, or undefined. */
  take(size: number, memory: boolean): PooledPlane | undefined {
    const list = this.bySize.get(size);
    let i = (list?.length ?? 0) - 1;
    while (i >= 0 && (list![i]!.memory !== undefined) !== memory) i--;
    const plane = i < 0 ? undefined : list!.splice(i, 1)[0];
    if (plane !== undefined) this.held.delete(plane.buffer);
    return plane;
  }

  clear(): void {
    this.bySize.clear();
    this.held.clear();
  }
}

/** The address space: the ION heap and the VIO region. */
export class PhysicalMemory {
  readonly ion: Region;
  readonly vio: Region;
  readonly regions: readonly Region[];

  /**
   * Planes of the sizes needed come from `pool` where it has them, new ones otherwise. The
   * reused planes are cleared once every plane is in hand, so that when making this address
   * space fails (out of memory) no plane was touched.
   */
  constructor(
    heapSize: number,
    vioSize: number,
    pageSize: number,
    strict: boolean,
    pool?: PlanePool,
    planeTag = 0,
    attach?: readonly RegionShare[],
  ) {
    const reused: PooledPlane[] = [];
    const planes: PlaneSource = {
      plane: (size) => {
        const bytes = Math.ceil(size / WASM_PAGE) * WASM_PAGE;
        const plane = pool?.take(bytes, true);
        if (plane === undefined) return newPlaneMemory(bytes);
        reused.push(plane);
        return plane.memory!;
      },
      table: (size) => {
        const plane = pool?.take(size, false);
        if (plane === undefined) return freshPlanes.table(size);
        reused.push(plane);
        return plane.buffer;
      },
    };
    this.ion = new Region(
      'ion',
      ION_HEAP_BASE,
      heapSize,
      pageSize,
      strict,
      planes,
      planeTag,
      attach?.[0],
    );
    const vioBase = Math.ceil((ION_HEAP_BASE + heapSize) / VIO_ALIGN) * VIO_ALIGN;
    this.vio = new Region('vio', vioBase, vioSize, pageSize, strict, planes, planeTag, attach?.[1]);
    this.regions = [this.ion, this.vio];
    for (const { buffer, memory, start, end } of reused) {
      if (end <= start) continue;
      if (memory !== undefined) planeOps(memory).fill(start, 0, end - start);
      else if (((start | end) & 7) === 0) {
        new Float64Array(buffer, start, (end - start) >>> 3).fill(0);
      } else new Uint8Array(buffer, start, end - start).fill(0);
    }
  }

  /** The region holding all of `[addr, addr + length)`, or undefined. */
  regionOf(addr: number, length: number): Region | undefined {
    if (this.ion.contains(addr, length)) return this.ion;
    if (this.vio.contains(addr, length)) return this.vio;
    return undefined;
  }
}
