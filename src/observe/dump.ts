/**
 * A JSON dump of the memory hbsys knows, as VMA's `vmaBuildStatsString` gives one. On the
 * emulator: every block and gap of the ION heap and of the VIO region in address order, with
 * what owns it, and every live registration. On both backends: every live allocation, VIO
 * buffer and registration (`mappings`), the statistics and the findings. The schema is
 * documented in docs/dump-schema.md; every field is always present (null where it does not
 * apply), so that consumers need no guessing.
 *
 * `size` is the bytes asked for, everywhere; whole pages are `blockBytes`. Addresses and
 * times are in the one format of units.ts.
 */

import { type BackendName, backendInUse } from '../backend.js';
import { currentMachine } from '../emulator/index.js';
import type { Machine, Owner } from '../emulator/machine.js';
import type { Region } from '../emulator/physical-memory.js';
import type { NativeBackend } from '../native/backend.js';
import { type FindingJson, findingsJson } from './findings.js';
import { type DetailedStats, snapshotStats } from './stats.js';
import { type HexAddress, hexAddress } from './units.js';

export { type HexAddress, hexAddress } from './units.js';

/** The version of the dump format; raised on any incompatible change. */
export const DUMP_VERSION = 2;

/** A live hbSysRegisterMem inside a block. */
export interface DumpRegistration {
  /** Physical address of the registered range. */
  phyAddr: HexAddress;
  /** Bytes registered (`memSize` at hbSysRegisterMem). */
  size: number;
  /** The label given to `register()`, else the label of the memory it lies in; null if none. */
  label: string | null;
  /** When it was registered, in ms since the process started. */
  registeredAtMs: number;
}

/** One block of a region: an allocation, a VIO buffer, or a free gap. */
export interface DumpBlock {
  /** An allocation, a VIO (camera, codec) buffer, or free space. */
  kind: 'allocation' | 'vio' | 'free';
  /** Physical address of the block's first byte. */
  phyAddr: HexAddress;
  /** Bytes of the block: whole pages. The blocks of a region tile it by these. */
  blockBytes: number;
  /** Bytes asked for (allocation, VIO buffer); null for free blocks. */
  size: number | null;
  /** The owner's id, as in traces; null for free blocks. */
  id: number | null;
  /** Whether the CPU maps it through the cache; null for free blocks. VIO buffers: true. */
  cached: boolean | null;
  /** The label given to `allocate()`; null if none. */
  label: string | null;
  /** When it was allocated, in ms since the process started; null for free blocks. */
  allocatedAtMs: number | null;
  /** Where it was allocated, when stacks are recorded (HBSYS_STACKS=1); else null. */
  allocStack: string | null;
  /** Live registrations inside it. */
  registrations: DumpRegistration[];
}

/** A region of the emulated physical memory: the ION heap or the VIO region. */
export interface DumpRegion {
  /** The ION heap, or the VIO region. */
  name: 'ion' | 'vio';
  /** Physical address of its first byte. */
  base: HexAddress;
  /** Bytes of the region. */
  size: number;
  /** The allocation granule: every block is whole pages. */
  pageSize: number;
  /** Every block and gap, in address order: they tile the region. */
  blocks: DumpBlock[];
}

/** A live allocation, VIO buffer or registration, on either backend. */
export interface DumpMapping {
  /** What hbsys handed out. */
  kind: 'allocation' | 'vio' | 'registration';
  /** Physical address of its first byte. */
  phyAddr: HexAddress;
  /** Bytes asked for (or registered). */
  size: number;
  /** Bytes held, whole pages (emulator allocations and VIO buffers); else null. */
  blockBytes: number | null;
  /** Whether the CPU maps it through its cache. */
  cached: boolean;
  /** Its label; null if none. */
  label: string | null;
  /** When it was made, in ms since the process started. */
  createdAtMs: number;
  /** Where it was made, when stacks are recorded; else null. */
  stack: string | null;
}

/** What `dumpHeap()` returns (and `hbsys dump` prints): see docs/dump-schema.md. */
export interface HeapDump {
  /** What this JSON is. */
  format: 'hbsys-heap-dump';
  /** The format's version ({@link DUMP_VERSION}). */
  version: typeof DUMP_VERSION;
  /** The backend the program used. */
  backend: BackendName;
  /** When the dump was taken, in ms since the process started. */
  takenAtMs: number;
  /** When the emulated machine was made (`emulator.reset`), same clock; null on the native backend. */
  machineStartedAtMs: number | null;
  /** The emulator's cache model; null on the native backend (its cache is real). */
  cacheModel: 'strict' | 'coherent' | null;
  /** The emulator's regions; empty on the native backend (libdnn shows no heap layout). */
  regions: DumpRegion[];
  /** Every live allocation, VIO buffer and registration, in address order. */
  mappings: DumpMapping[];
  /** The detailed statistics. */
  stats: DetailedStats;
  /** The sanitizer's findings so far. */
  findings: FindingJson[];
}

/**
 * A heap dump of the backend in use: on the emulator its whole physical memory, on the
 * native backend what hbsys handed out. Plain JSON (`JSON.stringify` it as it is); `hbsys map`
 * draws a saved one.
 *
 * @example
 * ```ts
 * using frame = allocate(4096, { label: 'frame' });
 * writeFileSync('dump.json', JSON.stringify(dumpHeap()));   // then: hbsys map dump.json
 * console.log(dumpHeap().mappings[0]);   // { kind: 'allocation', size: 4096, label: 'frame', … }
 * ```
 */
export function dumpHeap(): HeapDump {
  const backend = backendInUse();
  if (backend?.name === 'native') return nativeDump(backend as NativeBackend);
  return emulatorDump(currentMachine());
}

function emulatorDump(machine: Machine): HeapDump {
  const regions = machine.physical.regions.map((r) => dumpRegion(machine, r));
  const mappings: DumpMapping[] = [];
  for (const region of regions) {
    for (const b of region.blocks) {
      if (b.kind === 'free') continue;
      mappings.push({
        kind: b.kind,
        phyAddr: b.phyAddr,
        size: b.size!,
        blockBytes: b.blockBytes,
        cached: b.cached!,
        label: b.label,
        createdAtMs: b.allocatedAtMs!,
        stack: b.allocStack,
      });
      for (const r of b.registrations) {
        mappings.push({
          kind: 'registration',
          phyAddr: r.phyAddr,
          size: r.size,
          blockBytes: null,
          cached: true,
          label: r.label,
          createdAtMs: r.registeredAtMs,
          stack: null,
        });
      }
    }
  }
  return {
    format: 'hbsys-heap-dump',
    version: DUMP_VERSION,
    backend: 'emulator',
    takenAtMs: performance.now(),
    machineStartedAtMs: machine.createdAt,
    cacheModel: machine.options.cacheModel,
    regions,
    mappings: byAddress(mappings),
    stats: snapshotStats(),
    findings: findingsJson(),
  };
}

function nativeDump(backend: NativeBackend): HeapDump {
  const mappings = backend.ledger.entries().map(
    (e): DumpMapping => ({
      kind: e.kind,
      phyAddr: hexAddress(e.phyAddr),
      size: e.size,
      blockBytes: null,
      cached: e.cached,
      label: e.label ?? null,
      createdAtMs: e.createdAtMs,
      stack: e.stack ?? null,
    }),
  );
  return {
    format: 'hbsys-heap-dump',
    version: DUMP_VERSION,
    backend: 'native',
    takenAtMs: performance.now(),
    machineStartedAtMs: null,
    cacheModel: null,
    regions: [],
    mappings: byAddress(mappings),
    stats: snapshotStats(),
    findings: findingsJson(),
  };
}

/** In address order; an allocation before a registration at the same address. */
function byAddress(mappings: DumpMapping[]): DumpMapping[] {
  const rank = (m: DumpMapping) => (m.kind === 'registration' ? 1 : 0);
  return mappings.sort((a, b) => {
    const d = BigInt(a.phyAddr) - BigInt(b.phyAddr);
    return d !== 0n ? (d < 0n ? -1 : 1) : rank(a) - rank(b);
  });
}

function dumpRegion(machine: Machine, region: Region): DumpRegion {
  const blocks: DumpBlock[] = [];
  for (const b of region.allocator.blocks()) {
    const offset = b.offset * region.pageSize;
    const bytes = b.size * region.pageSize;
    const owner = b.free ? undefined : machine.ownerOf(region, offset);
    blocks.push(owner === undefined ? freeBlock(region.base + offset, bytes) : ownedBlock(owner));
  }
  return {
    name: region.name,
    base: hexAddress(region.base),
    size: region.size,
    pageSize: region.pageSize,
    blocks,
  };
}

function freeBlock(phyAddr: number, blockBytes: number): DumpBlock {
  return {
    kind: 'free',
    phyAddr: hexAddress(phyAddr),
    blockBytes,
    size: null,
    id: null,
    cached: null,
    label: null,
    allocatedAtMs: null,
    allocStack: null,
    registrations: [],
  };
}

function ownedBlock(owner: Owner): DumpBlock {
  return {
    kind: owner.kind,
    phyAddr: hexAddress(owner.phyAddr),
    blockBytes: owner.blockBytes,
    size: owner.size,
    id: owner.id,
    cached: owner.cached,
    label: owner.label ?? null,
    allocatedAtMs: owner.allocatedAt,
    allocStack: owner.allocStack ?? null,
    registrations: [...owner.registrations]
      .sort((a, b) => a.phyAddr - b.phyAddr)
      .map((r) => ({
        phyAddr: hexAddress(r.phyAddr),
        size: r.size,
        label: r.label ?? null,
        registeredAtMs: r.registeredAt,
      })),
  };
}
