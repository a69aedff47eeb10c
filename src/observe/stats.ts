/**
 * Statistics of the backend in use, split by cost as VMA splits them (`vmaGetHeapBudgets`
 * against `vmaCalculateStatistics`):
 * - `observeStats()`: counts kept as things happen, the same shape on both backends, cheap
 *   enough to call every frame (no walk of the heap, the findings or the live list);
 * - `observeStats({ detailed: true })`: the counts plus what needs a scan: on the emulator,
 *   free blocks, fragmentation, the VIO region and findings by kind; on both, live bytes by
 *   label.
 *
 * On the native backend the figures are what this process allocated and registered through
 * hbsys (libdnn has no statistics call): bytes are the bytes asked for, since the board's
 * rounding is not visible from outside.
 */

import { type BackendName, backendInUse, currentBackend } from '../backend.js';
import { currentMachine, type EmulatorStats, emulator, findingCount } from '../emulator/index.js';
import type { NativeBackend } from '../native/backend.js';
import type { LedgerEntry } from '../native/ledger.js';

/** The cheap counts: the same fields on both backends. */
export interface MemoryStats {
  /** The backend they describe. */
  backend: BackendName;
  /** Live allocations (hbSysAllocMem, hbSysAllocCachedMem, `allocate`). */
  allocationCount: number;
  /** Bytes asked for by live allocations. */
  bytesRequested: number;
  /**
   * Bytes held for live allocations: on the emulator whole pages of the ION heap, on the
   * native backend the bytes asked for (the board's rounding is not visible).
   */
  bytesInUse: number;
  /** The highest `bytesInUse` (since `emulator.reset()`, or since the native backend loaded). */
  peakBytesInUse: number;
  /** Live registrations (hbSysRegisterMem, `register`). */
  registrationCount: number;
  /** Successful allocations. */
  allocs: number;
  /** Successful frees. */
  frees: number;
  /** Successful registrations. */
  registrations: number;
  /** Successful unregistrations. */
  unregistrations: number;
  /** CLEANs that acted (on the emulator: of cached memory). */
  cleans: number;
  /** INVALIDATEs that acted (on the emulator: of cached memory). */
  invalidates: number;
  /** Bytes those CLEANs covered. */
  bytesCleaned: number;
  /** Bytes those INVALIDATEs covered. */
  bytesInvalidated: number;
  /** Sanitizer findings so far (the native backend has no sanitizer: its leaks come at exit). */
  findings: number;
}

/** Live allocations and bytes of one label (`''`: no label), in a detailed scan. */
export interface LabelUse {
  /** Live allocations. */
  allocations: number;
  /** Bytes asked for by those allocations. */
  bytes: number;
  /** Live registrations. */
  registrations: number;
}

/** The detailed scan on the emulator: {@link EmulatorStats}, the counts and the heap walk. */
export interface ObservedStats extends EmulatorStats, MemoryStats {
  backend: 'emulator';
  /** Free blocks in the ION heap: many small ones mean a fragmented heap. */
  freeBlockCount: number;
  /** Bytes of the VIO region (camera and codec buffers). */
  vioSize: number;
  /** Bytes of the VIO region held by live VIO buffers (whole pages). */
  vioBytesInUse: number;
  /** Bytes of live registrations. */
  bytesRegistered: number;
  /** Live allocations and registrations by label. */
  byLabel: Record<string, LabelUse>;
}

/** The detailed scan on the native backend: the counts and the live list by label. */
export interface NativeObservedStats extends MemoryStats {
  backend: 'native';
  /** Bytes of live registrations. */
  bytesRegistered: number;
  /** Live allocations and registrations by label. */
  byLabel: Record<string, LabelUse>;
  /** The libdnn.so in use. */
  libraryPath: string;
}

/** What `observeStats({ detailed: true })` returns, by backend. */
export type DetailedStats = ObservedStats | NativeObservedStats;

/** Which statistics to take. */
export interface StatsOptions {
  /** A scan of the heap and the live list as well as the counts. Default false. */
  detailed?: boolean;
}

/**
 * Statistics of the backend in use (the one the eight functions use; chosen from
 * `HBSYS_BACKEND` if none was yet): the cheap counts, or with `{ detailed: true }` a scan.
 *
 * @example
 * ```ts
 * using input = allocate(4096, { cached: true, label: 'input' });
 * const { allocationCount, bytesRequested } = observeStats();   // cheap: every frame
 * const detailed = observeStats({ detailed: true });            // a scan: now and then
 * console.log(detailed.byLabel.input);   // { allocations: 1, bytes: 4096, registrations: 0 }
 * ```
 */
export function observeStats(options: StatsOptions & { detailed: true }): DetailedStats;
export function observeStats(options?: StatsOptions): MemoryStats;
export function observeStats(options: StatsOptions = {}): MemoryStats | DetailedStats {
  const detailed = options?.detailed === true;
  const backend = currentBackend();
  if (backend.name === 'native') {
    const native = backend as NativeBackend;
    return detailed ? nativeDetailed(native) : nativeCounts(native);
  }
  return detailed ? emulatorDetailed() : emulatorCounts();
}

/** The statistics a snapshot of the process holds: detailed, without choosing a backend. @internal */
export function snapshotStats(): DetailedStats {
  const backend = backendInUse();
  if (backend?.name === 'native') return nativeDetailed(backend as NativeBackend);
  return emulatorDetailed();
}

function emulatorCounts(): MemoryStats {
  const m = currentMachine();
  const c = m.counters;
  return {
    backend: 'emulator',
    allocationCount: m.allocationCount,
    bytesRequested: c.bytesRequested,
    bytesInUse: m.bytesInUse,
    peakBytesInUse: c.peakBytesInUse,
    registrationCount: m.registrationCount,
    allocs: c.allocs,
    frees: c.frees,
    registrations: c.registrations,
    unregistrations: c.unregistrations,
    cleans: c.cleans,
    invalidates: c.invalidates,
    bytesCleaned: c.bytesCleaned,
    bytesInvalidated: c.bytesInvalidated,
    findings: findingCount(),
  };
}

/** The emulator's detailed statistics. @internal */
export function emulatorDetailed(): ObservedStats {
  const m = currentMachine();
  const base = emulator.stats();
  const vio = m.physical.vio;
  const byLabel = new Map<string, LabelUse>();
  let bytesRegistered = 0;
  for (const o of m.owners.values()) {
    if (o.kind === 'allocation') addLabel(byLabel, o.label, o.size, 'allocation');
    for (const r of o.registrations) {
      bytesRegistered += r.size;
      addLabel(byLabel, r.label, r.size, 'registration');
    }
  }
  return {
    ...base,
    backend: 'emulator',
    registrations: m.counters.registrations,
    unregistrations: m.counters.unregistrations,
    findings: Object.values(base.findingsByKind).reduce((a, b) => a + b, 0),
    freeBlockCount: m.physical.ion.allocator.freeBlockCount(),
    vioSize: vio.size,
    vioBytesInUse: (vio.allocator.capacity - vio.allocator.freeUnits) * vio.pageSize,
    bytesRegistered,
    byLabel: Object.fromEntries(byLabel),
  };
}

function nativeCounts(backend: NativeBackend): MemoryStats {
  const c = backend.ledger.counts;
  return {
    backend: 'native',
    allocationCount: c.allocationCount,
    bytesRequested: c.bytesInUse,
    bytesInUse: c.bytesInUse,
    peakBytesInUse: c.peakBytesInUse,
    registrationCount: c.registrationCount,
    allocs: c.allocs,
    frees: c.frees,
    registrations: c.registrations,
    unregistrations: c.unregistrations,
    cleans: c.cleans,
    invalidates: c.invalidates,
    bytesCleaned: c.bytesCleaned,
    bytesInvalidated: c.bytesInvalidated,
    findings: 0,
  };
}

function nativeDetailed(backend: NativeBackend): NativeObservedStats {
  const byLabel = new Map<string, LabelUse>();
  for (const e of backend.ledger.entries()) addLabel(byLabel, e.label, e.size, e.kind);
  return {
    ...nativeCounts(backend),
    backend: 'native',
    bytesRegistered: backend.ledger.counts.bytesRegistered,
    // fromEntries defines each key: a label '__proto__' is an own property like any other.
    byLabel: Object.fromEntries(byLabel),
    libraryPath: backend.libraryPath,
  };
}

function addLabel(
  byLabel: Map<string, LabelUse>,
  label: string | undefined,
  size: number,
  kind: LedgerEntry['kind'],
): void {
  const key = label ?? '';
  let use = byLabel.get(key);
  if (use === undefined) byLabel.set(key, (use = { allocations: 0, bytes: 0, registrations: 0 }));
  if (kind === 'allocation') {
    use.allocations++;
    use.bytes += size;
  } else use.registrations++;
}
