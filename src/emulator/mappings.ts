/**
 * Owners (allocations, VIO buffers) and registrations as one thread sees them: small
 * objects over a row of the board's shared slot table. The row is the truth, in every
 * thread: an object is live while its row still holds its id (ids are never reused, so a
 * freed and reallocated slot holds another id). Objects are made on demand
 * (AddressSpace.mappingAt, address-space.ts), never by the plain alloc / free path; labels
 * and allocation stacks come from the board's shared strings, so every thread's object has
 * them. What only this thread has: the view (the one handed out, for the sanitizer's and
 * registrations' objects made with it) and the free stack.
 */

import { type Board, S_FIRST_REG, S_ID, S_REG_COUNT, S_ZEROED, SLOT_STRIDE } from './board.js';
import type { Region } from './physical-memory.js';

/** Materializes the registrations of an owner's chain (the machine of this thread). */
export interface RegistrationSource {
  registrationsOf(owner: Owner): Set<Registration>;
}

/** Memory with an owner: an ION allocation or a VIO buffer. */
export class Owner {
  readonly kind: 'allocation' | 'vio';
  readonly id: number;
  /** Its row in the board's slot table. */
  readonly slot: number;
  readonly region: Region;
  readonly phyAddr: number;
  /** Offset in the region. */
  readonly offset: number;
  /** Bytes asked for. */
  readonly size: number;
  /** Bytes the allocator set aside (whole pages). */
  readonly blockBytes: number;
  readonly cached: boolean;
  readonly label: string | undefined;
  /** When it was allocated (this thread's performance.now() scale). */
  readonly allocatedAt: number;
  readonly allocStack: string | undefined;
  freeStack: string | undefined;
  /** The CPU mapping of this thread: the one handed out, or one made to reach it. */
  view: Uint8Array | null;
  private readonly board: Board;
  private readonly source: RegistrationSource;

  constructor(
    board: Board,
    source: RegistrationSource,
    fields: {
      kind: 'allocation' | 'vio';
      id: number;
      slot: number;
      region: Region;
      offset: number;
      size: number;
      blockBytes: number;
      cached: boolean;
      label: string | undefined;
      allocatedAt: number;
      allocStack: string | undefined;
      view: Uint8Array | null;
    },
  ) {
    this.board = board;
    this.source = source;
    this.kind = fields.kind;
    this.id = fields.id;
    this.slot = fields.slot;
    this.region = fields.region;
    this.phyAddr = fields.region.base + fields.offset;
    this.offset = fields.offset;
    this.size = fields.size;
    this.blockBytes = fields.blockBytes;
    this.cached = fields.cached;
    this.label = fields.label;
    this.allocatedAt = fields.allocatedAt;
    this.allocStack = fields.allocStack;
    this.freeStack = undefined;
    this.view = fields.view;
  }

  /** Whether it is still allocated (in any thread's eyes). */
  get live(): boolean {
    return this.board.slots[this.slot * SLOT_STRIDE + S_ID] === this.id;
  }

  /**
   * Whether the CPU's copy (cache and shadow planes) of the block is zeroed. Uncached
   * allocations leave it for later: nothing reaches it until a registration maps the
   * memory cached, and then it is zeroed, as if at allocation.
   */
  get cpuCopyZeroed(): boolean {
    return this.board.slots[this.slot * SLOT_STRIDE + S_ZEROED] === 1;
  }

  set cpuCopyZeroed(v: boolean) {
    if (this.live) this.board.slots[this.slot * SLOT_STRIDE + S_ZEROED] = v ? 1 : 0;
  }

  /** Live registrations inside, in every thread. */
  get registrationCount(): number {
    return this.live ? this.board.slots[this.slot * SLOT_STRIDE + S_REG_COUNT]! : 0;
  }

  /** The first registration of its chain, as a slot, or -1. */
  get firstRegistrationSlot(): number {
    return this.live && this.registrationCount > 0
      ? this.board.slots[this.slot * SLOT_STRIDE + S_FIRST_REG]!
      : -1;
  }

  /** Live registrations inside (a fresh set, built from the shared chain). */
  get registrations(): Set<Registration> {
    return this.registrationCount === 0 ? new Set() : this.source.registrationsOf(this);
  }
}

/** A live or ended hbSysRegisterMem. */
export class Registration {
  readonly kind = 'registration' as const;
  readonly id: number;
  readonly slot: number;
  readonly owner: Owner;
  readonly region: Region;
  readonly phyAddr: number;
  readonly offset: number;
  readonly size: number;
  readonly registeredAt: number;
  readonly label: string | undefined;
  view: Uint8Array | null;
  private readonly board: Board;

  constructor(
    board: Board,
    fields: {
      id: number;
      slot: number;
      owner: Owner;
      offset: number;
      size: number;
      registeredAt: number;
      label: string | undefined;
      view: Uint8Array | null;
    },
  ) {
    this.board = board;
    this.id = fields.id;
    this.slot = fields.slot;
    this.owner = fields.owner;
    this.region = fields.owner.region;
    this.phyAddr = this.region.base + fields.offset;
    this.offset = fields.offset;
    this.size = fields.size;
    this.registeredAt = fields.registeredAt;
    this.label = fields.label;
    this.view = fields.view;
  }

  get live(): boolean {
    return this.board.slots[this.slot * SLOT_STRIDE + S_ID] === this.id;
  }
}

export type Mapping = Owner | Registration;
