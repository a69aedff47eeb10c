/**
 * The board's shared state: what every thread of the process reads and writes, in shared
 * memory, so that one machine serves them all, as one board serves every thread of a
 * process on the device.
 *
 * - the header: the lock, id and slot counters, live counts, whether the machine was
 *   retired by a reset, how many other threads attached;
 * - the counters behind `emulator.stats()`;
 * - the slot table: one row per allocation, VIO buffer or registration (its id, kind,
 *   region, offset, size, …), with the registrations of an owner chained through its row.
 *   `Region.pageOwner` maps each page to the slot of its owner (plus one; 0: none).
 *
 * A {@link BoardShare} holds only SharedArrayBuffers and plain values: it crosses to a
 * worker thread through `worker_threads.setEnvironmentData`, and the worker attaches to it.
 *
 * Locking: every call that reads or changes shared state runs under one process-wide
 * mutex (an Atomics word; a thread that finds it taken spins briefly, then waits on it).
 * It is reentrant within a thread. Nothing waits for another thread while holding it.
 */

import { threadId } from 'node:worker_threads';
import { type BpuShare, newBpuShare } from './bpu-queue.js';
import type { ResolvedOptions } from './options.js';
import type { PlaneMemory } from './plane-memory.js';
import { newRangeTable } from './shared-ranges.js';
import { SharedStrings } from './shared-strings.js';
import type { TlsfStorage } from './tlsf.js';
import { growableShared } from './tlsf.js';

/**
 * Header words. The lock word says who holds the lock, so that a lock left by a thread
 * ended mid-call can be let go (see {@link Board.acquire}); word 1 is unused.
 */
const H_LOCK = 0;
export const H_NEXT_ID = 2;
export const H_LIVE_ALLOCS = 3;
export const H_LIVE_REGS = 4;
const H_RETIRED = 5;
const H_ATTACHED = 6;
const H_SLOT_COUNT = 7;
const H_SPARE_SLOT = 8;
/** Findings: bytes used in the log, the clear generation, where the last clear left it. */
export const H_FINDINGS_END = 9;
export const H_FINDINGS_CLEARS = 10;
export const H_FINDINGS_CLEARED_AT = 11;
/** Per region (2 of them): the byte range ever owned, [start, end). */
const H_DIRTY = 12;
/** How many times the slot table grew: a thread views it anew when this moved. */
const H_SLOT_GROWS = 16;
/**
 * Set when the lock was let go for a thread that ended holding it: the tables may be half
 * changed, and the next thread to take the lock repairs them first (see {@link repair}).
 */
const H_REPAIR = 17;
/** The lock word's bit that says a thread may be waiting for the lock. */
const WAITED = 1;
const HEADER_WORDS = 32;

/** Counter indexes, as in {@link Counters}. */
export const COUNTER_NAMES = [
  'peakBytesInUse',
  'allocs',
  'frees',
  'registrations',
  'unregistrations',
  'cleans',
  'invalidates',
  'bytesCleaned',
  'bytesInvalidated',
  'bytesWrittenBack',
  'bpuJobs',
  'bpuBytes',
  // Kept as allocations and VIO buffers come and go, so statistics never scan the table.
  'bytesRequested',
  'vioBufferCount',
] as const;

/** Counters behind `emulator.stats()`, in shared memory (accessors over a Float64Array). */
export type Counters = Record<(typeof COUNTER_NAMES)[number], number>;

/** Fields of a slot row (Float64 each). */
export const S_ID = 0;
export const S_KIND = 1;
export const S_REGION = 2;
export const S_OFFSET = 3;
export const S_SIZE = 4;
export const S_BLOCK = 5;
export const S_CACHED = 6;
export const S_ZEROED = 7;
/** For a registration: its owner's slot. */
export const S_OWNER = 8;
/** For an owner: live registrations inside, and the first of their chain (-1: none). */
export const S_REG_COUNT = 9;
export const S_FIRST_REG = 10;
/** For a registration: the next and previous in its owner's chain. */
export const S_NEXT_REG = 11;
export const S_PREV_REG = 12;
export const S_AT = 13;
/** For a free slot: the next free one. */
const S_NEXT_SPARE = 14;
/** For a live owner: its allocation stack in the shared strings (-1: none); see S_LABEL. */
export const S_STACK = 14;
/** Its label, an index in the board's shared strings (shared-strings.ts), -1: none. */
export const S_LABEL = 15;
export const SLOT_STRIDE = 16;

export const KIND_ALLOCATION = 1;
export const KIND_VIO = 2;
export const KIND_REGISTRATION = 3;

/** The most slots (live allocations, VIO buffers and registrations together). */
const MAX_SLOTS = 1 << 21;

/** One region's shared parts. */
export interface RegionShare {
  readonly memory: SharedArrayBuffer;
  readonly cache: SharedArrayBuffer;
  readonly shadow: SharedArrayBuffer;
  /** The planes as memories (memory, then cache and shadow under the strict model). */
  readonly planes: PlaneMemory[];
  readonly pageOwner: SharedArrayBuffer;
  readonly refInMemory: SharedArrayBuffer;
  readonly lineStale: SharedArrayBuffer;
  readonly lineWritten: SharedArrayBuffer;
  readonly allocator: TlsfStorage;
}

/** Everything a thread needs to attach to the machine: shared buffers and plain values. */
export interface BoardShare {
  readonly kind: 'hbsys.board';
  readonly version: 1;
  readonly options: ResolvedOptions;
  /** The thread that made the machine (worker_threads.threadId). */
  readonly madeBy: number;
  readonly header: SharedArrayBuffer;
  readonly counters: SharedArrayBuffer;
  readonly slots: SharedArrayBuffer;
  readonly findings: SharedArrayBuffer;
  /** Labels and allocation stacks (shared-strings.ts). */
  readonly strings: SharedArrayBuffer;
  readonly regions: readonly RegionShare[];
  /** A per-process number in each plane's length, so that planes are told apart. */
  readonly planeTag: number;
  /** The one BPU's queue and control (bpu-queue.ts): every thread submits through it. */
  readonly bpu: BpuShare;
  /** Ranges of BPU jobs in flight, of every thread (shared-ranges.ts), for the sanitizer. */
  readonly inFlight: SharedArrayBuffer;
  /** Ranges that live hbDNN tasks of every thread hold: free and unregister refuse them. */
  readonly held: SharedArrayBuffer;
}

/** The key under which the machine is shared with worker threads made after it. */
export const BOARD_KEY = 'hbsys.board';

/** The most bytes of findings the shared log holds; later ones stay in their thread. */
export const FINDINGS_LOG_MAX = 64 << 20;

/** The header, counters and slot table of a share, and the lock. */
export class Board {
  readonly share: BoardShare;
  readonly header: Int32Array;
  readonly counters: Counters;
  /**
   * Slot rows: a fixed-length view of the growable buffer (faster to index than a
   * length-tracking one), viewed whole again as the lock is taken when it grew.
   */
  slots: Float64Array;
  /** Whether this thread made the machine. */
  readonly mine: boolean;
  /**
   * Whether `thread`, which holds the lock, has ended or is surely ending without letting
   * it go (asked to end a while ago: thread-tree.ts). Asked only while waiting for the lock.
   * The thread that made its Worker lets the lock go when Node reports the end (an event),
   * but it may itself be waiting here, having terminated that thread and called hbsys
   * before its event loop turned.
   */
  abandoned: ((thread: number) => boolean) | undefined;
  /**
   * Makes the tables whole again after a thread ended holding the lock, from the rows (the
   * address space's): run by the next thread to take the lock.
   */
  repair: (() => void) | undefined;
  private depth = 0;
  private slotGrows = 0;

  constructor(share: BoardShare, fresh: boolean) {
    this.share = share;
    this.header = new Int32Array(share.header);
    this.slots = new Float64Array(share.slots, 0, share.slots.byteLength >>> 3);
    this.mine = share.madeBy === threadId && fresh;
    const values = new Float64Array(share.counters);
    const counters = {} as Counters;
    COUNTER_NAMES.forEach((name, i) => {
      Object.defineProperty(counters, name, {
        enumerable: true,
        get: () => values[i]!,
        set: (v: number) => {
          values[i] = v;
        },
      });
    });
    this.counters = counters;
    if (fresh) {
      this.header[H_NEXT_ID] = 1;
      this.header[H_SPARE_SLOT] = -1;
      for (let r = 0; r < 2; r++) {
        this.header[H_DIRTY + 2 * r] = 0x7fff_ffff;
        this.header[H_DIRTY + 2 * r + 1] = 0;
      }
    } else {
      Atomics.add(this.header, H_ATTACHED, 1);
    }
  }

  /** Whether another thread attached to this machine (its memory may still be in use). */
  get shared(): boolean {
    return Atomics.load(this.header, H_ATTACHED) > 0;
  }

  /** Whether `emulator.reset()` in the thread that made it replaced this machine. */
  get retired(): boolean {
    return this.header[H_RETIRED] !== 0;
  }

  retire(): void {
    Atomics.store(this.header, H_RETIRED, 1);
  }

  // --- the lock ------------------------------------------------------------------------

  /** Takes the process-wide lock (reentrant). */
  lock(): void {
    if (this.depth++ > 0) return;
    this.acquire();
    this.refresh();
    if (this.header[H_REPAIR] !== 0 && this.repair !== undefined) {
      this.repair();
      // Cleared once done: a thread that ends inside the repair leaves it to the next one.
      this.header[H_REPAIR] = 0;
    }
  }

  /**
   * Lets the lock go if `thread` holds it: `thread` has ended (a `worker.terminate()` stops
   * a thread wherever it is, inside a call too), and every other thread would wait for it
   * forever. The tables that call may have left half changed are repaired by the next
   * thread to take the lock (H_REPAIR).
   */
  releaseIfHeldBy(thread: number): void {
    const h = this.header;
    for (;;) {
      const word = Atomics.load(h, H_LOCK);
      if (word >>> 1 !== thread + 1) return;
      Atomics.store(h, H_REPAIR, 1);
      // A waiter may mark the word meanwhile: then read it again.
      if (Atomics.compareExchange(h, H_LOCK, word, 0) === word) {
        if ((word & WAITED) !== 0) Atomics.notify(h, H_LOCK, 1);
        return;
      }
    }
  }

  /**
   * This thread exits inside a call that holds the lock (it never finishes): the lock goes,
   * and the thread's depth with it, so that what it does as it exits takes the lock anew.
   */
  leaveCall(): void {
    if (Atomics.load(this.header, H_LOCK) >>> 1 !== threadId + 1) return;
    this.depth = 0;
    this.releaseIfHeldBy(threadId);
  }

  /**
   * The lock word: 0 free, else the holder's thread id plus one, shifted left by one, with
   * the low bit ({@link WAITED}) set when a thread may be waiting for it. Taking the lock
   * and saying who took it are one atomic step: a thread terminated anywhere (the engine
   * stops a thread at any loop's back edge, the one right after its take included) leaves
   * a lock that names it. Uncontended, a take is one compareExchange and a release one
   * exchange; a thread that finds it taken after spinning marks it waited and waits.
   */
  private acquire(): void {
    const h = this.header;
    const mine = (threadId + 1) << 1;
    if (Atomics.compareExchange(h, H_LOCK, 0, mine) === 0) return;
    for (let spin = 0; spin < 100; spin++) {
      if (Atomics.compareExchange(h, H_LOCK, 0, mine) === 0) return;
    }
    for (;;) {
      const word = Atomics.load(h, H_LOCK);
      if (word === 0) {
        // Taken as waited for: this thread cannot tell whether others wait beside it.
        if (Atomics.compareExchange(h, H_LOCK, 0, mine | WAITED) === 0) return;
        continue;
      }
      if (
        (word & WAITED) === 0 &&
        Atomics.compareExchange(h, H_LOCK, word, word | WAITED) !== word
      ) {
        continue;
      }
      Atomics.wait(h, H_LOCK, word | WAITED, 5);
      this.letGoIfAbandoned();
    }
  }

  /**
   * Lets the lock go when its holder will never do so: see {@link abandoned}. (Its next
   * take, in the loop above, is then this thread's.)
   */
  private letGoIfAbandoned(): void {
    const holder = (Atomics.load(this.header, H_LOCK) >>> 1) - 1;
    if (holder >= 0 && holder !== threadId && this.abandoned?.(holder) === true) {
      this.releaseIfHeldBy(holder);
    }
  }

  /** Views the slot table whole again if it grew (here or in another thread). */
  refresh(): void {
    if (this.header[H_SLOT_GROWS] === this.slotGrows) return;
    this.slotGrows = this.header[H_SLOT_GROWS]!;
    const buffer = this.share.slots;
    this.slots = new Float64Array(buffer, 0, buffer.byteLength >>> 3);
  }

  unlock(): void {
    if (--this.depth > 0) return;
    const h = this.header;
    if ((Atomics.exchange(h, H_LOCK, 0) & WAITED) !== 0) Atomics.notify(h, H_LOCK, 1);
  }

  /** Runs `fn` under the lock. */
  locked<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }

  // --- ids and slots -------------------------------------------------------------------

  /** A new id, never handed out before on this machine (ids are the generations). */
  nextId(): number {
    const id = this.header[H_NEXT_ID]!;
    this.header[H_NEXT_ID] = id >= 0x7fff_fffe ? 1 : id + 1;
    return id;
  }

  /** A free slot, or -1 when the table is full. */
  takeSlot(): number {
    const h = this.header;
    const spare = h[H_SPARE_SLOT]!;
    if (spare >= 0) {
      h[H_SPARE_SLOT] = this.slots[spare * SLOT_STRIDE + S_NEXT_SPARE]!;
      return spare;
    }
    const n = h[H_SLOT_COUNT]!;
    if (n >= MAX_SLOTS) return -1;
    const need = (n + 1) * SLOT_STRIDE * 8;
    const buffer = this.share.slots as SharedArrayBuffer & { grow(n: number): void };
    if (need > buffer.byteLength) {
      buffer.grow(Math.max(need, buffer.byteLength * 2));
      this.header[H_SLOT_GROWS]!++;
      this.refresh();
    }
    h[H_SLOT_COUNT] = n + 1;
    return n;
  }

  /** Frees `slot` (its id becomes 0: every handle to it is stale). */
  releaseSlot(slot: number): void {
    const at = slot * SLOT_STRIDE;
    // The id alone ends it (the next owner of the row writes every field it reads).
    this.slots[at + S_ID] = 0;
    this.slots[at + S_NEXT_SPARE] = this.header[H_SPARE_SLOT]!;
    this.header[H_SPARE_SLOT] = slot;
  }

  /**
   * The free slots chained anew, from the rows (a row is live while its id is nonzero), and
   * the live counts counted: part of the repair after a thread ended holding the lock.
   */
  rechainSlots(): void {
    const h = this.header;
    const s = this.slots;
    let spare = -1;
    let allocs = 0;
    let regs = 0;
    for (let slot = h[H_SLOT_COUNT]! - 1; slot >= 0; slot--) {
      const at = slot * SLOT_STRIDE;
      if (s[at + S_ID] === 0) {
        s[at + S_NEXT_SPARE] = spare;
        spare = slot;
      } else if (s[at + S_KIND] === KIND_ALLOCATION) allocs++;
      else if (s[at + S_KIND] === KIND_REGISTRATION) regs++;
    }
    h[H_SPARE_SLOT] = spare;
    h[H_LIVE_ALLOCS] = allocs;
    h[H_LIVE_REGS] = regs;
  }

  /** Slots ever used (live ones have a nonzero id). */
  get slotCount(): number {
    return this.header[H_SLOT_COUNT]!;
  }

  /** Widens region `r`'s range ever owned to hold `[start, end)`. */
  touch(r: number, start: number, end: number): void {
    const h = this.header;
    if (start < h[H_DIRTY + 2 * r]!) h[H_DIRTY + 2 * r] = start;
    if (end > h[H_DIRTY + 2 * r + 1]!) h[H_DIRTY + 2 * r + 1] = end;
  }

  /** Region `r`'s range ever owned, [start, end) (empty when start >= end). */
  dirtyRange(r: number): [number, number] {
    return [this.header[H_DIRTY + 2 * r]!, this.header[H_DIRTY + 2 * r + 1]!];
  }
}

/** A new share's buffers (the planes come from the address space). */
export function newBoardBuffers(): Pick<
  BoardShare,
  'header' | 'counters' | 'slots' | 'findings' | 'strings' | 'bpu' | 'inFlight' | 'held'
> {
  return {
    bpu: newBpuShare(),
    inFlight: newRangeTable(),
    held: newRangeTable(),
    header: new SharedArrayBuffer(HEADER_WORDS * 4),
    counters: new SharedArrayBuffer(COUNTER_NAMES.length * 8),
    slots: growableShared(64 * SLOT_STRIDE * 8, MAX_SLOTS * SLOT_STRIDE * 8),
    findings: growableShared(64 << 10, FINDINGS_LOG_MAX),
    strings: SharedStrings.newBuffer(),
  };
}

/** Whether `x` is a share a thread can attach to. */
export function isBoardShare(x: unknown): x is BoardShare {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as BoardShare).kind === 'hbsys.board' &&
    (x as BoardShare).version === 1
  );
}
