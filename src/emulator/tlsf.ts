/**
 * A two-level segregated fit (TLSF) allocator over abstract units (the emulator's pages).
 *
 * Pure: offsets in, offsets out. It never touches the memory it manages, because device
 * memory cannot hold allocator headers; all metadata lives here, in typed arrays, with no
 * object per block and no allocation on the hot path (arrays grow by doubling).
 *
 * alloc and free are O(1): a size maps to a (first level, second level) class; two bitmaps
 * find the smallest non-empty class that is certain to fit. Free blocks coalesce with their
 * physical neighbours at once, so when everything is freed the whole range is one block.
 */

/** log2 of the number of second-level classes per first-level class. */
const SL_LOG2 = 5;
const SL_COUNT = 1 << SL_LOG2;
/** Sizes below this are binned exactly (first level 0). */
const SMALL = SL_COUNT;
const FL_COUNT = 32 - SL_LOG2;
/**
 * When the class that is certain to fit is empty, a bounded look into the class of the
 * size itself, whose blocks may or may not fit. It keeps the heap usable to the end
 * (fragmentation) at a constant cost.
 */
const EXACT_CLASS_PROBES = 16;

const NONE = -1;

/** A block as the allocator sees it, for dumps and tests. */
export interface TlsfBlock {
  readonly offset: number;
  readonly size: number;
  readonly free: boolean;
}

export class Tlsf {
  /** Units under management. */
  readonly capacity: number;

  // Per-block metadata, indexed by block id.
  private offset: Uint32Array;
  private size: Uint32Array;
  private prevPhys: Int32Array;
  private nextFree: Int32Array;
  private prevFree: Int32Array;
  private isFree: Uint8Array;
  /** Ids of retired blocks, for reuse. */
  private spareIds: Int32Array;
  private spareCount = 0;
  private idCount = 0;

  /** Block id starting at each unit, or NONE. One extra slot so `end` can be probed. */
  private readonly startAt: Int32Array;

  private flBitmap = 0;
  private readonly slBitmap = new Uint32Array(FL_COUNT);
  private readonly heads = new Int32Array(FL_COUNT * SL_COUNT).fill(NONE);

  private freeTotal: number;
  private usedCount = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x7fff_ffff) {
      throw new RangeError(`Tlsf capacity must be an integer in 1 … 2^31-1, got ${capacity}`);
    }
    this.capacity = capacity;
    const initial = 64;
    this.offset = new Uint32Array(initial);
    this.size = new Uint32Array(initial);
    this.prevPhys = new Int32Array(initial);
    this.nextFree = new Int32Array(initial);
    this.prevFree = new Int32Array(initial);
    this.isFree = new Uint8Array(initial);
    this.spareIds = new Int32Array(initial);
    this.startAt = new Int32Array(capacity + 1).fill(NONE);
    this.freeTotal = capacity;
    const id = this.newId();
    this.offset[id] = 0;
    this.size[id] = capacity;
    this.prevPhys[id] = NONE;
    this.startAt[0] = id;
    this.insertFree(id);
  }

  /** Units not allocated. */
  get freeUnits(): number {
    return this.freeTotal;
  }

  /** Live allocations. */
  get allocationCount(): number {
    return this.usedCount;
  }

  /**
   * Allocates `units` contiguous units; returns the offset of the first, or -1 when no
   * free block can hold them.
   */
  alloc(units: number): number {
    if (!(units >= 1 && units <= this.capacity) || !Number.isInteger(units)) return NONE;
    let id = this.findFit(units);
    if (id === NONE) return NONE;
    this.removeFree(id);
    const blockSize = this.size[id]!;
    if (blockSize > units) {
      // Split: the remainder stays free, right after the allocation.
      const rest = this.newId();
      const restOffset = this.offset[id]! + units;
      this.offset[rest] = restOffset;
      this.size[rest] = blockSize - units;
      this.prevPhys[rest] = id;
      this.startAt[restOffset] = rest;
      const after = this.startAt[restOffset + blockSize - units]!;
      if (after !== NONE) this.prevPhys[after] = rest;
      this.size[id] = units;
      this.insertFree(rest);
    }
    this.isFree[id] = 0;
    this.freeTotal -= units;
    this.usedCount++;
    id = this.offset[id]!;
    return id;
  }

  /** Frees the allocation at `offset`; returns its size in units, or 0 if none starts there. */
  free(offset: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.capacity) return 0;
    let id = this.startAt[offset]!;
    if (id === NONE || this.isFree[id] === 1) return 0;
    const units = this.size[id]!;
    this.freeTotal += units;
    this.usedCount--;
    // Coalesce with the next block.
    const next = this.startAt[offset + units]!;
    if (next !== NONE && this.isFree[next] === 1) {
      this.removeFree(next);
      this.absorb(id, next);
    }
    // Coalesce with the previous block.
    const prev = this.prevPhys[id]!;
    if (prev !== NONE && this.isFree[prev] === 1) {
      this.removeFree(prev);
      this.absorb(prev, id);
      id = prev;
    }
    this.insertFree(id);
    return units;
  }

  /** Size in units of the live allocation at `offset`, or 0 if none starts there. */
  sizeAt(offset: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.capacity) return 0;
    const id = this.startAt[offset]!;
    return id === NONE || this.isFree[id] === 1 ? 0 : this.size[id]!;
  }

  /** The largest free block, in units (a scan of the top non-empty class). */
  largestFree(): number {
    if (this.flBitmap === 0) return 0;
    const fl = 31 - Math.clz32(this.flBitmap);
    const sl = 31 - Math.clz32(this.slBitmap[fl]!);
    let best = 0;
    for (let id = this.heads[fl * SL_COUNT + sl]!; id !== NONE; id = this.nextFree[id]!) {
      if (this.size[id]! > best) best = this.size[id]!;
    }
    return best;
  }

  /** Number of free blocks (a walk of the free lists; for statistics, not the hot path). */
  freeBlockCount(): number {
    let n = 0;
    for (let i = 0; i < this.heads.length; i++) {
      for (let id = this.heads[i]!; id !== NONE; id = this.nextFree[id]!) n++;
    }
    return n;
  }

  /** Every block in address order, free and allocated. */
  *blocks(): IterableIterator<TlsfBlock> {
    let offset = 0;
    while (offset < this.capacity) {
      const id = this.startAt[offset]!;
      const size = this.size[id]!;
      yield { offset, size, free: this.isFree[id] === 1 };
      offset += size;
    }
  }

  /** Bytes of metadata this allocator holds (its typed arrays). */
  metadataBytes(): number {
    return (
      this.offset.byteLength +
      this.size.byteLength +
      this.prevPhys.byteLength +
      this.nextFree.byteLength +
      this.prevFree.byteLength +
      this.isFree.byteLength +
      this.spareIds.byteLength +
      this.startAt.byteLength +
      this.heads.byteLength +
      this.slBitmap.byteLength
    );
  }

  /**
   * Checks every invariant and throws on the first broken one: blocks tile the range,
   * no two free blocks are adjacent, every free block is in the list of its class, the
   * bitmaps match the lists, and the counters match the blocks. For tests.
   */
  check(): void {
    let offset = 0;
    let prev = NONE;
    let prevWasFree = false;
    let free = 0;
    let used = 0;
    let freeBlocks = 0;
    while (offset < this.capacity) {
      const id = this.startAt[offset]!;
      if (id === NONE) throw new Error(`no block starts at ${offset}`);
      if (this.offset[id] !== offset) throw new Error(`block ${id} offset mismatch`);
      if (this.prevPhys[id] !== prev) throw new Error(`block at ${offset}: wrong prevPhys`);
      const size = this.size[id]!;
      if (size < 1) throw new Error(`block at ${offset} has size 0`);
      for (let u = offset + 1; u < offset + size; u++) {
        if (this.startAt[u] !== NONE) throw new Error(`stale start marker at ${u}`);
      }
      const isFree = this.isFree[id] === 1;
      if (isFree) {
        if (prevWasFree) throw new Error(`adjacent free blocks at ${offset}`);
        free += size;
        freeBlocks++;
      } else {
        used++;
      }
      prevWasFree = isFree;
      prev = id;
      offset += size;
    }
    if (offset !== this.capacity) throw new Error('blocks overrun the capacity');
    if (free !== this.freeTotal) throw new Error(`free total ${this.freeTotal} != ${free}`);
    if (used !== this.usedCount) throw new Error(`used count ${this.usedCount} != ${used}`);
    let listed = 0;
    for (let fl = 0; fl < FL_COUNT; fl++) {
      for (let sl = 0; sl < SL_COUNT; sl++) {
        const head = this.heads[fl * SL_COUNT + sl]!;
        const bit = (this.slBitmap[fl]! >>> sl) & 1;
        if ((head !== NONE) !== (bit === 1)) throw new Error(`bitmap mismatch at ${fl},${sl}`);
        let before = NONE;
        for (let id = head; id !== NONE; id = this.nextFree[id]!) {
          if (this.isFree[id] !== 1) throw new Error(`used block ${id} in a free list`);
          const [f, s] = classOf(this.size[id]!);
          if (f !== fl || s !== sl) throw new Error(`block ${id} in the wrong class`);
          if (this.prevFree[id] !== before) throw new Error(`block ${id}: wrong prevFree`);
          before = id;
          listed++;
        }
      }
      if ((this.slBitmap[fl] !== 0) !== (((this.flBitmap >>> fl) & 1) === 1)) {
        throw new Error(`first-level bitmap mismatch at ${fl}`);
      }
    }
    if (listed !== freeBlocks) throw new Error(`${listed} listed free blocks, ${freeBlocks} real`);
  }

  private findFit(units: number): number {
    // Round up to the next class boundary: any block in that class or above fits.
    let fl: number;
    let sl: number;
    if (units < SMALL) {
      fl = 0;
      sl = units;
    } else {
      const f = 31 - Math.clz32(units);
      const rounded = units + (1 << (f - SL_LOG2)) - 1;
      const rf = 31 - Math.clz32(rounded);
      fl = rf - SL_LOG2 + 1;
      sl = (rounded >>> (rf - SL_LOG2)) ^ SL_COUNT;
    }
    if (fl < FL_COUNT) {
      let slMap = this.slBitmap[fl]! & (~0 << sl);
      if (slMap === 0) {
        const flMap = fl + 1 < 32 ? this.flBitmap & (~0 << (fl + 1)) : 0;
        if (flMap !== 0) {
          fl = ctz(flMap);
          slMap = this.slBitmap[fl]!;
        }
      }
      if (slMap !== 0) return this.heads[fl * SL_COUNT + ctz(slMap)]!;
    }
    // Nothing certain to fit: look at a few blocks of the size's own class.
    const [ef, es] = classOf(units);
    let id = this.heads[ef * SL_COUNT + es]!;
    for (let i = 0; i < EXACT_CLASS_PROBES && id !== NONE; i++) {
      if (this.size[id]! >= units) return id;
      id = this.nextFree[id]!;
    }
    return NONE;
  }

  private absorb(into: number, gone: number): void {
    const goneSize = this.size[gone]!;
    const goneOffset = this.offset[gone]!;
    this.size[into] = this.size[into]! + goneSize;
    this.startAt[goneOffset] = NONE;
    const after = this.startAt[goneOffset + goneSize]!;
    if (after !== NONE) this.prevPhys[after] = into;
    this.retireId(gone);
  }

  private insertFree(id: number): void {
    const [fl, sl] = classOf(this.size[id]!);
    const slot = fl * SL_COUNT + sl;
    const head = this.heads[slot]!;
    this.isFree[id] = 1;
    this.prevFree[id] = NONE;
    this.nextFree[id] = head;
    if (head !== NONE) this.prevFree[head] = id;
    this.heads[slot] = id;
    this.slBitmap[fl] = this.slBitmap[fl]! | (1 << sl);
    this.flBitmap |= 1 << fl;
  }

  private removeFree(id: number): void {
    const prev = this.prevFree[id]!;
    const next = this.nextFree[id]!;
    if (next !== NONE) this.prevFree[next] = prev;
    if (prev !== NONE) {
      this.nextFree[prev] = next;
    } else {
      const [fl, sl] = classOf(this.size[id]!);
      const slot = fl * SL_COUNT + sl;
      this.heads[slot] = next;
      if (next === NONE) {
        this.slBitmap[fl] = this.slBitmap[fl]! & ~(1 << sl);
        if (this.slBitmap[fl] === 0) this.flBitmap &= ~(1 << fl);
      }
    }
    this.isFree[id] = 0;
  }

  private newId(): number {
    if (this.spareCount > 0) return this.spareIds[--this.spareCount]!;
    if (this.idCount === this.offset.length) this.grow();
    return this.idCount++;
  }

  private retireId(id: number): void {
    this.isFree[id] = 0;
    this.spareIds[this.spareCount++] = id;
  }

  private grow(): void {
    const n = this.offset.length * 2;
    this.offset = growU32(this.offset, n);
    this.size = growU32(this.size, n);
    this.prevPhys = growI32(this.prevPhys, n);
    this.nextFree = growI32(this.nextFree, n);
    this.prevFree = growI32(this.prevFree, n);
    this.spareIds = growI32(this.spareIds, n);
    const isFree = new Uint8Array(n);
    isFree.set(this.isFree);
    this.isFree = isFree;
  }
}

/** The (first level, second level) class a free block of `units` is listed in. */
function classOf(units: number): [number, number] {
  if (units < SMALL) return [0, units];
  const f = 31 - Math.clz32(units);
  return [f - SL_LOG2 + 1, (units >>> (f - SL_LOG2)) ^ SL_COUNT];
}

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function growU32(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}

function growI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}
