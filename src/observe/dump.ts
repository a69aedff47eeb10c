/**
 * A JSON dump of the emulated heap, as VMA's `vmaBuildStatsString` gives one: every block
 * and gap of the ION heap and of the VIO region in address order, with what owns it, and
 * every live registration. The schema is documented in docs/dump-schema.md; every field is
 * always present (null where it does not apply), so that consumers need no guessing.
 */

import { currentMachine } from '../emulator/index.js';
import type { Machine, Owner } from '../emulator/machine.js';
import type { Region } from '../emulator/physical-memory.js';
import { hex } from '../handle-errors.js';
import { type FindingJson, findingsJson } from './findings.js';
import { type ObservedStats, observeStats } from './stats.js';

/** The version of the dump format; raised on any incompatible change. */
export const DUMP_VERSION = 1;

/** A physical address as the board's tools print it: `0x` and at least 8 hex digits. */
export type HexAddress = string;

/** A live hbSysRegisterMem inside a block. */
export interface DumpRegistration {
  phyAddr: HexAddress;
  size: number;
  /** Milliseconds since the registration was made. */
  ageMs: number;
}

/** One block of a region: an allocation, a VIO buffer, or a free gap. */
export interface DumpBlock {
  kind: 'allocation' | 'vio' | 'free';
  phyAddr: HexAddress;
  /** Bytes of the block (whole pages). */
  size: number;
  /** Bytes asked for (allocation, VIO buffer); null for free blocks. */
  requestedSize: number | null;
  /** The owner's id, as in machine events; null for free blocks. */
  id: number | null;
  /** Whether the CPU maps it through the cache; null for free blocks. VIO buffers: true. */
  cached: boolean | null;
  label: string | null;
  /** Milliseconds since it was allocated; null for free blocks. */
  ageMs: number | null;
  /** Where it was allocated, when stacks are recorded (HBSYS_STACKS=1); else null. */
  allocStack: string | null;
  registrations: DumpRegistration[];
}

export interface DumpRegion {
  name: 'ion' | 'vio';
  base: HexAddress;
  size: number;
  pageSize: number;
  blocks: DumpBlock[];
}

export interface HeapDump {
  format: 'hbsys-heap-dump';
  version: typeof DUMP_VERSION;
  /** Milliseconds since the machine was made. */
  takenAtMs: number;
  cacheModel: 'strict' | 'coherent';
  regions: DumpRegion[];
  stats: ObservedStats;
  findings: FindingJson[];
}

/** A hex address string, `0x` and at least 8 digits. */
export function hexAddress(n: number): HexAddress {
  return `0x${hex(n)}`;
}

/** The dump of the current machine (or of `machine`, for tests). */
export function dumpHeap(machine: Machine = currentMachine()): HeapDump {
  const now = performance.now();
  return {
    format: 'hbsys-heap-dump',
    version: DUMP_VERSION,
    takenAtMs: now - machine.createdAt,
    cacheModel: machine.options.cacheModel,
    regions: machine.physical.regions.map((r) => dumpRegion(machine, r, now)),
    stats: observeStats(),
    findings: findingsJson(),
  };
}

function dumpRegion(machine: Machine, region: Region, now: number): DumpRegion {
  const blocks: DumpBlock[] = [];
  for (const b of region.allocator.blocks()) {
    const offset = b.offset * region.pageSize;
    const size = b.size * region.pageSize;
    const owner = b.free ? undefined : machine.ownerOf(region, offset);
    blocks.push(
      owner === undefined ? freeBlock(region.base + offset, size) : ownedBlock(owner, now),
    );
  }
  return {
    name: region.name,
    base: hexAddress(region.base),
    size: region.size,
    pageSize: region.pageSize,
    blocks,
  };
}

function freeBlock(phyAddr: number, size: number): DumpBlock {
  return {
    kind: 'free',
    phyAddr: hexAddress(phyAddr),
    size,
    requestedSize: null,
    id: null,
    cached: null,
    label: null,
    ageMs: null,
    allocStack: null,
    registrations: [],
  };
}

function ownedBlock(owner: Owner, now: number): DumpBlock {
  return {
    kind: owner.kind,
    phyAddr: hexAddress(owner.phyAddr),
    size: owner.blockBytes,
    requestedSize: owner.size,
    id: owner.id,
    cached: owner.cached,
    label: owner.label ?? null,
    ageMs: now - owner.allocatedAt,
    allocStack: owner.allocStack ?? null,
    registrations: [...owner.registrations]
      .sort((a, b) => a.phyAddr - b.phyAddr)
      .map((r) => ({ phyAddr: hexAddress(r.phyAddr), size: r.size, ageMs: now - r.registeredAt })),
  };
}
