/**
 * A two-level segregated fit (TLSF) allocator over abstract units (the emulator's pages).
 *
 * Pure: offsets in, offsets out. It never touches the memory it manages, because device
 * memory cannot hold allocator headers; all metadata lives here, in typed arrays, with no
 * object per block and no allocation on the hot path (arrays grow by doubling).
 *
 * Layout, for speed at a million live blocks, where every access is a cache miss: the fields
 * of a block sit together (eight int32 per block, half a cache line), so touching a block
 * costs one miss, not one per field; and the map from offset to block is a hash table sized
 * by the number of blocks, not an array per unit, so the metadata is proportional to the
 * blocks (about 40-80 bytes each) whatever the capacity.
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

/** Fields of a block, at `id * STRIDE` in the block table. */
const STRIDE = 8;
const F_OFFSET = 0;
const F_SIZE = 1;
const F_PREV_PHYS = 2;
const F_NEXT_PHYS = 3;
/** Next in the free list of its class, or, for a retired id, the next spare id. */
const F_NEXT_FREE = 4;
const F_PREV_FREE = 5;
/** 1 while the block is free. */
const F_FREE = 6;
/** The class slot (first level * SL_COUNT + second level) a free block is listed in. */
const F_SLOT = 7;

/** Multiplier of the Fibonacci hash of offsets. */
const HASH_MUL = 0x9e3779b1 | 0;

/** A block as the allocator sees it, for dumps and tests. */
export interface TlsfBlock {
  readonly offset: number;
  readonly size: number;
  readonly free: boolean;
}

/**
 * Where a Tlsf keeps its state: shared memory, so that every thread of the process can run
 * the one allocator (under the machine's lock). `blocks` and `table` are growable buffers
 * whose views track their length in every thread.
 */
export interface TlsfStorage {
  /** The scalars, the second-level bitmaps and the class heads (int32 words). */
  readonly meta: SharedArrayBuffer;
  /** The block table (growable). */
  readonly blocks: SharedArrayBuffer;
  /** The offset hash table (growable). */
  readonly table: SharedArrayBuffer;
}

/** Scalars in `meta`, then FL_COUNT second-level bitmaps, then the class heads. */
const M_ID_COUNT = 0;
const M_SPARE_HEAD = 1;
const M_TABLE_SHIFT = 2;
const M_TABLE_COUNT = 3;
const M_FL_BITMAP = 4;
const M_FREE_TOTAL = 5;
const M_USED_COUNT = 6;
/** How many times a buffer grew: a thread views them anew when this moved. */
const M_GROWS = 7;
const M_SCALARS = 8;
const META_WORDS = M_SCALARS + FL_COUNT + FL_COUNT * SL_COUNT;

/** A growable SharedArrayBuffer, as Node 20's types do not declare it. */
interface GrowableShared extends SharedArrayBuffer {
  grow(byteLength: number): void;
}

/** A SharedArrayBuffer of `initial` bytes that may grow to `max`. */
export function growableShared(initial: number, max: number): SharedArrayBuffer {
  const Ctor = SharedArrayBuffer as unknown as new (
    n: number,
    o: { maxByteLength: number },
  ) => SharedArrayBuffer;
  return new Ctor(initial, { maxByteLength: Math.max(initial, max) });
}

export class Tlsf {
  /** Units under management. */
  readonly capacity: number;
  /** Where the state lives, for another thread to attach to. */
  readonly storage: TlsfStorage;

  /**
   * Every block's fields, STRIDE int32 per block id. A fixed-length view of the growable
   * buffer (length-tracking views are several times slower to index), made anew when the
   * buffer grew, here or in another thread ({@link sync}).
   */
  private b: Int32Array;
  /** Open-addressing hash (linear probing) from a block's offset to its id. */
  private table: Int32Array;
  private readonly meta: Int32Array;
  private readonly slBitmap: Uint32Array;
  private readonly heads: Int32Array;
  /** M_GROWS when this thread last viewed the buffers. */
  private grows = 0;

  /** Ids handed out so far (the table's high-water mark). */
  private get idCount(): number {
    return this.meta[M_ID_COUNT]!;
  }
  private set idCount(v: number) {
    this.meta[M_ID_COUNT] = v;
  }
  /** Retired ids, chained through F_NEXT_FREE. */
  private get spareHead(): number {
    return this.meta[M_SPARE_HEAD]!;
  }
  private set spareHead(v: number) {
    this.meta[M_SPARE_HEAD] = v;
  }
  private get tableShift(): number {
    return this.meta[M_TABLE_SHIFT]!;
  }
  private set tableShift(v: number) {
    this.meta[M_TABLE_SHIFT] = v;
  }
  private get tableCount(): number {
    return this.meta[M_TABLE_COUNT]!;
  }
  private set tableCount(v: number) {
    this.meta[M_TABLE_COUNT] = v;
  }
  private get flBitmap(): number {
    return this.meta[M_FL_BITMAP]! >>> 0;
  }
  private set flBitmap(v: number) {
    this.meta[M_FL_BITMAP] = v;
  }
  private get freeTotal(): number {
    return this.meta[M_FREE_TOTAL]!;
  }
  private set freeTotal(v: number) {
    this.meta[M_FREE_TOTAL] = v;
  }
  private get usedCount(): number {
    return this.meta[M_USED_COUNT]!;
  }
  private set usedCount(v: number) {
    this.meta[M_USED_COUNT] = v;
  }

  /**
   * A new allocator of `capacity` units, or, with `storage`, the one another thread made
   * there (nothing is reset).
   */
  constructor(capacity: number, storage?: TlsfStorage) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x7fff_ffff) {
      throw new RangeError(`Tlsf capacity must be an integer in 1 … 2^31-1, got ${capacity}`);
    }
    this.capacity = capacity;
    const fresh = storage === undefined;
    this.storage = storage ?? {
      meta: new SharedArrayBuffer(META_WORDS * 4),
      // At most one block per unit; the table at most four slots per block.
      blocks: growableShared(64 * STRIDE * 4, (capacity + 2) * STRIDE * 4),
      table: growableShared(
        128 * 4,
        Math.max(128, 4 * 2 ** Math.ceil(Math.log2(capacity + 2))) * 4,
      ),
    };
    this.meta = new Int32Array(this.storage.meta, 0, M_SCALARS);
    this.slBitmap = new Uint32Array(this.storage.meta, M_SCALARS * 4, FL_COUNT);
    this.heads = new Int32Array(this.storage.meta, (M_SCALARS + FL_COUNT) * 4);
    this.b = new Int32Array(this.storage.blocks, 0, this.storage.blocks.byteLength >>> 2);
    this.table = new Int32Array(this.storage.table, 0, this.storage.table.byteLength >>> 2);
    // A fresh allocator is one rebuilt with nothing allocated: one free block of it all.
    if (fresh) this.rebuild([]);
  }

  /** Units not allocated. */
  get freeUnits(): number {
    return this.freeTotal;
  }

  /** Live allocations. */
  get allocationCount(): number {
    return this.usedCount;
  }

  /** Views the buffers whole again if they grew since this thread last looked. */
  private sync(): void {
    if (this.meta[M_GROWS] === this.grows) return;
    this.grows = this.meta[M_GROWS]!;
    const { blocks, table } = this.storage;
    if (this.b.byteLength !== blocks.byteLength) {
      this.b = new Int32Array(blocks, 0, blocks.byteLength >>> 2);
    }
    if (this.table.byteLength !== table.byteLength) {
      this.table = new Int32Array(table, 0, table.byteLength >>> 2);
    }
  }

  /**
   * Allocates `units` contiguous units; returns the offset of the first, or -1 when no
   * free block can hold them.
   */
  alloc(units: number): number {
    this.sync();
    if (!(units >= 1 && units <= this.capacity) || (units | 0) !== units) return NONE;
    const id = this.findFit(units);
    if (id === NONE) return NONE;
    this.removeFree(id);
    let at = id * STRIDE;
    const blockSize = this.b[at + F_SIZE]!;
    const offset = this.b[at + F_OFFSET]!;
    if (blockSize > units) {
      // Split: the remainder stays free, right after the allocation.
      const rest = this.newId();
      const b = this.b; // newId may have grown the table
      at = id * STRIDE;
      const rat = rest * STRIDE;
      const restOffset = offset + units;
      const after = b[at + F_NEXT_PHYS]!;
      b[rat + F_OFFSET] = restOffset;
      b[rat + F_SIZE] = blockSize - units;
      b[rat + F_PREV_PHYS] = id;
      b[rat + F_NEXT_PHYS] = after;
      if (after !== NONE) b[after * STRIDE + F_PREV_PHYS] = rest;
      b[at + F_NEXT_PHYS] = rest;
      b[at + F_SIZE] = units;
      this.hashInsert(rest, restOffset);
      this.insertFree(rest);
    }
    this.freeTotal -= units;
    this.usedCount++;
    return offset;
  }

  /** Frees the allocation at `offset`; returns its size in units, or 0 if none starts there. */
  free(offset: number): number {
    this.sync();
    if (!(offset >= 0 && offset < this.capacity) || (offset | 0) !== offset) return 0;
    let id = this.hashFind(offset);
    if (id === NONE) return 0;
    const b = this.b;
    const at = id * STRIDE;
    if (b[at + F_FREE] === 1) return 0;
    const units = b[at + F_SIZE]!;
    this.freeTotal += units;
    this.usedCount--;
    // Coalesce with the next block.
    const next = b[at + F_NEXT_PHYS]!;
    if (next !== NONE && b[next * STRIDE + F_FREE] === 1) {
      this.removeFree(next);
      this.absorb(id, next);
    }
    // Coalesce with the previous block.
    const prev = b[at + F_PREV_PHYS]!;
    if (prev !== NONE && b[prev * STRIDE + F_FREE] === 1) {
      this.removeFree(prev);
      this.absorb(prev, id);
      id = prev;
    }
    this.insertFree(id);
    return units;
  }

  /**
   * Makes the allocator anew, in place (other threads keep their views), with exactly the
   * blocks `used` allocated (`[offset, units]` each) and the rest free: for a state a thread
   * left half changed, ending inside a call. Blocks that overlap an earlier one or lie
   * outside the capacity are left out. Returns how many blocks it allocated.
   */
  rebuild(used: readonly (readonly [offset: number, units: number])[]): number {
    const { blocks, table } = this.storage;
    // Viewed whole: the ended thread may have grown a buffer and not said so.
    this.b = new Int32Array(blocks, 0, blocks.byteLength >>> 2);
    this.table = new Int32Array(table, 0, table.byteLength >>> 2);
    this.meta[M_GROWS]!++;
    this.grows = this.meta[M_GROWS]!;
    this.heads.fill(NONE);
    this.slBitmap.fill(0);
    this.flBitmap = 0;
    this.table.fill(NONE);
    this.tableShift = 32 - (31 - Math.clz32(this.table.length));
    this.tableCount = 0;
    this.idCount = 0;
    this.spareHead = NONE;
    this.freeTotal = this.capacity;
    this.usedCount = 0;
    let prev = NONE;
    const add = (offset: number, units: number, free: boolean) => {
      const id = this.newId();
      const b = this.b;
      const at = id * STRIDE;
      b[at + F_OFFSET] = offset;
      b[at + F_SIZE] = units;
      b[at + F_PREV_PHYS] = prev;
      b[at + F_NEXT_PHYS] = NONE;
      b[at + F_FREE] = 0;
      if (prev !== NONE) b[prev * STRIDE + F_NEXT_PHYS] = id;
      this.hashInsert(id, offset);
      if (free) this.insertFree(id);
      else {
        this.freeTotal -= units;
        this.usedCount++;
      }
      prev = id;
    };
    let end = 0;
    for (const [offset, units] of [...used].sort((x, y) => x[0] - y[0])) {
      const whole = Number.isInteger(offset) && Number.isInteger(units) && units >= 1;
      if (!whole || offset < end || offset + units > this.capacity) continue;
      if (offset > end) add(end, offset - end, true);
      add(offset, units, false);
      end = offset + units;
    }
    if (end < this.capacity) add(end, this.capacity - end, true);
    return this.usedCount;
  }

  /** Size in units of the live allocation at `offset`, or 0 if none starts there. */
  sizeAt(offset: number): number {
    this.sync();
    if (!(offset >= 0 && offset < this.capacity) || (offset | 0) !== offset) return 0;
    const id = this.hashFind(offset);
    if (id === NONE) return 0;
    const at = id * STRIDE;
    return this.b[at + F_FREE] === 1 ? 0 : this.b[at + F_SIZE]!;
  }

  /** The largest free block, in units (a scan of the top non-empty class). */
  largestFree(): number {
    this.sync();
    if (this.flBitmap === 0) return 0;
    const fl = 31 - Math.clz32(this.flBitmap);
    const sl = 31 - Math.clz32(this.slBitmap[fl]!);
    let best = 0;
    const b = this.b;
    for (
      let id = this.heads[fl * SL_COUNT + sl]!;
      id !== NONE;
      id = b[id * STRIDE + F_NEXT_FREE]!
    ) {
      if (b[id * STRIDE + F_SIZE]! > best) best = b[id * STRIDE + F_SIZE]!;
    }
    return best;
  }

  /** Number of free blocks (a walk of the free lists; for statistics, not the hot path). */
  freeBlockCount(): number {
    this.sync();
    let n = 0;
    for (let i = 0; i < this.heads.length; i++) {
      for (let id = this.heads[i]!; id !== NONE; id = this.b[id * STRIDE + F_NEXT_FREE]!) n++;
    }
    return n;
  }

  /** Every block in address order, free and allocated. */
  *blocks(): IterableIterator<TlsfBlock> {
    this.sync();
    for (let id = this.hashFind(0); id !== NONE; id = this.b[id * STRIDE + F_NEXT_PHYS]!) {
      const at = id * STRIDE;
      yield {
        offset: this.b[at + F_OFFSET]!,
        size: this.b[at + F_SIZE]!,
        free: this.b[at + F_FREE] === 1,
      };
    }
  }

  /** Bytes of metadata this allocator holds (its typed arrays). */
  metadataBytes(): number {
    this.sync();
    return (
      this.b.byteLength + this.table.byteLength + this.heads.byteLength + this.slBitmap.byteLength
    );
  }

  /**
   * Checks every invariant and throws on the first broken one: blocks tile the range,
   * no two free blocks are adjacent, every free block is in the list of its class, the
   * bitmaps match the lists, the offset table finds every block, and the counters match
   * the blocks. For tests.
   */
  check(): void {
    this.sync();
    const b = this.b;
    let offset = 0;
    let prev = NONE;
    let prevWasFree = false;
    let free = 0;
    let used = 0;
    let freeBlocks = 0;
    let blocks = 0;
    let id = this.hashFind(0);
    while (offset < this.capacity) {
      if (id === NONE) throw new Error(`no block starts at ${offset}`);
      const at = id * STRIDE;
      if (b[at + F_OFFSET] !== offset) throw new Error(`block ${id} offset mismatch`);
      if (this.hashFind(offset) !== id)
        throw new Error(`offset table misses the block at ${offset}`);
      if (b[at + F_PREV_PHYS] !== prev) throw new Error(`block at ${offset}: wrong prevPhys`);
      const size = b[at + F_SIZE]!;
      if (size < 1) throw new Error(`block at ${offset} has size 0`);
      const isFree = b[at + F_FREE] === 1;
      if (isFree) {
        if (prevWasFree) throw new Error(`adjacent free blocks at ${offset}`);
        free += size;
        freeBlocks++;
      } else {
        used++;
      }
      blocks++;
      prevWasFree = isFree;
      prev = id;
      offset += size;
      id = b[at + F_NEXT_PHYS]!;
    }
    if (offset !== this.capacity) throw new Error('blocks overrun the capacity');
    if (id !== NONE) throw new Error('a block follows the last unit');
    if (blocks !== this.tableCount)
      throw new Error(`${this.tableCount} offsets for ${blocks} blocks`);
    if (free !== this.freeTotal) throw new Error(`free total ${this.freeTotal} != ${free}`);
    if (used !== this.usedCount) throw new Error(`used count ${this.usedCount} != ${used}`);
    let listed = 0;
    for (let fl = 0; fl < FL_COUNT; fl++) {
      for (let sl = 0; sl < SL_COUNT; sl++) {
        const head = this.heads[fl * SL_COUNT + sl]!;
        const bit = (this.slBitmap[fl]! >>> sl) & 1;
        if ((head !== NONE) !== (bit === 1)) throw new Error(`bitmap mismatch at ${fl},${sl}`);
        let before = NONE;
        for (let f = head; f !== NONE; f = b[f * STRIDE + F_NEXT_FREE]!) {
          if (b[f * STRIDE + F_FREE] !== 1) throw new Error(`used block ${f} in a free list`);
          const slot = slotOf(b[f * STRIDE + F_SIZE]!);
          if (slot !== fl * SL_COUNT + sl || b[f * STRIDE + F_SLOT] !== slot) {
            throw new Error(`block ${f} in the wrong class`);
          }
          if (b[f * STRIDE + F_PREV_FREE] !== before) throw new Error(`block ${f}: wrong prevFree`);
          before = f;
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
    const b = this.b;
    let id = this.heads[slotOf(units)]!;
    for (let i = 0; i < EXACT_CLASS_PROBES && id !== NONE; i++) {
      if (b[id * STRIDE + F_SIZE]! >= units) return id;
      id = b[id * STRIDE + F_NEXT_FREE]!;
    }
    return NONE;
  }

  /** Merges the block `gone` into its physical predecessor `into`; both are out of lists. */
  private absorb(into: number, gone: number): void {
    const b = this.b;
    const gat = gone * STRIDE;
    const iat = into * STRIDE;
    b[iat + F_SIZE] = b[iat + F_SIZE]! + b[gat + F_SIZE]!;
    const after = b[gat + F_NEXT_PHYS]!;
    b[iat + F_NEXT_PHYS] = after;
    if (after !== NONE) b[after * STRIDE + F_PREV_PHYS] = into;
    this.hashDelete(b[gat + F_OFFSET]!);
    b[gat + F_FREE] = 0;
    b[gat + F_NEXT_FREE] = this.spareHead;
    this.spareHead = gone;
  }

  private insertFree(id: number): void {
    const b = this.b;
    const at = id * STRIDE;
    const slot = slotOf(b[at + F_SIZE]!);
    const head = this.heads[slot]!;
    b[at + F_FREE] = 1;
    b[at + F_SLOT] = slot;
    b[at + F_PREV_FREE] = NONE;
    b[at + F_NEXT_FREE] = head;
    if (head !== NONE) b[head * STRIDE + F_PREV_FREE] = id;
    this.heads[slot] = id;
    const fl = slot >>> SL_LOG2;
    this.slBitmap[fl] = this.slBitmap[fl]! | (1 << (slot & (SL_COUNT - 1)));
    this.flBitmap |= 1 << fl;
  }

  private removeFree(id: number): void {
    const b = this.b;
    const at = id * STRIDE;
    const prev = b[at + F_PREV_FREE]!;
    const next = b[at + F_NEXT_FREE]!;
    if (next !== NONE) b[next * STRIDE + F_PREV_FREE] = prev;
    if (prev !== NONE) {
      b[prev * STRIDE + F_NEXT_FREE] = next;
    } else {
      const slot = b[at + F_SLOT]!;
      this.heads[slot] = next;
      if (next === NONE) {
        const fl = slot >>> SL_LOG2;
        const map = this.slBitmap[fl]! & ~(1 << (slot & (SL_COUNT - 1)));
        this.slBitmap[fl] = map;
        if (map === 0) this.flBitmap &= ~(1 << fl);
      }
    }
    b[at + F_FREE] = 0;
  }

  private newId(): number {
    if (this.spareHead !== NONE) {
      const id = this.spareHead;
      this.spareHead = this.b[id * STRIDE + F_NEXT_FREE]!;
      return id;
    }
    if ((this.idCount + 1) * STRIDE > this.b.length) {
      (this.storage.blocks as GrowableShared).grow(this.b.byteLength * 2);
      this.meta[M_GROWS]!++;
      this.sync();
    }
    return this.idCount++;
  }

  // --- the offset table ------------------------------------------------------------------

  private hashFind(offset: number): number {
    const table = this.table;
    const mask = table.length - 1;
    let i = Math.imul(offset, HASH_MUL) >>> this.tableShift;
    for (;;) {
      const id = table[i]!;
      if (id === NONE || this.b[id * STRIDE + F_OFFSET] === offset) return id;
      i = (i + 1) & mask;
    }
  }

  private hashInsert(id: number, offset: number): void {
    if ((this.tableCount + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const table = this.table;
    const mask = table.length - 1;
    let i = Math.imul(offset, HASH_MUL) >>> this.tableShift;
    while (table[i] !== NONE) i = (i + 1) & mask;
    table[i] = id;
    this.tableCount++;
  }

  /** Removes `offset`, shifting later entries of its probe run back (no tombstones). */
  private hashDelete(offset: number): void {
    const table = this.table;
    const b = this.b;
    const mask = table.length - 1;
    const shift = this.tableShift;
    let i = Math.imul(offset, HASH_MUL) >>> shift;
    while (b[table[i]! * STRIDE + F_OFFSET] !== offset) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const id = table[j]!;
      if (id === NONE) break;
      const home = Math.imul(b[id * STRIDE + F_OFFSET]!, HASH_MUL) >>> shift;
      // The entry at j stays when its home lies cyclically in (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (!stays) {
        table[i] = id;
        i = j;
      }
    }
    table[i] = NONE;
    this.tableCount--;
  }

  private rehash(size: number): void {
    const old = this.table.slice();
    (this.storage.table as GrowableShared).grow(size * 4);
    this.meta[M_GROWS]!++;
    this.sync();
    this.table.fill(NONE);
    this.tableShift = 32 - (31 - Math.clz32(size));
    this.tableCount = 0;
    for (let i = 0; i < old.length; i++) {
      const id = old[i]!;
      if (id !== NONE) this.hashInsert(id, this.b[id * STRIDE + F_OFFSET]!);
    }
  }
}

/** The class slot (first level * SL_COUNT + second level) a free block of `units` is listed in. */
function slotOf(units: number): number {
  if (units < SMALL) return units;
  const f = 31 - Math.clz32(units);
  return ((f - SL_LOG2 + 1) << SL_LOG2) | ((units >>> (f - SL_LOG2)) ^ SL_COUNT);
}

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}
