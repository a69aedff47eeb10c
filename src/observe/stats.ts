/**
 * Statistics as VMA users expect them: `emulator.stats()` plus what needs a walk of the
 * heap (free blocks, the VIO region), and the total of the sanitizer's findings.
 */

import { currentMachine, type EmulatorStats, emulator } from '../emulator/index.js';

/** {@link EmulatorStats} and the figures an observer adds. */
export interface ObservedStats extends EmulatorStats {
  /** Free blocks in the ION heap: many small ones mean a fragmented heap. */
  freeBlockCount: number;
  /** Bytes of the VIO region (camera and codec buffers). */
  vioSize: number;
  /** Bytes of the VIO region held by live VIO buffers (whole pages). */
  vioBytesInUse: number;
  /** hbSysRegisterMem / hbSysUnregisterMem calls that succeeded, since the machine was made. */
  registrations: number;
  unregistrations: number;
  /** Sanitizer findings so far (0 while the sanitizer is off); by kind in findingsByKind. */
  findings: number;
}

/** The statistics of the current machine. */
export function observeStats(): ObservedStats {
  const m = currentMachine();
  const base = emulator.stats();
  const vio = m.physical.vio;
  return {
    ...base,
    freeBlockCount: m.physical.ion.allocator.freeBlockCount(),
    vioSize: vio.size,
    vioBytesInUse: (vio.allocator.capacity - vio.allocator.freeUnits) * vio.pageSize,
    registrations: m.counters.registrations,
    unregistrations: m.counters.unregistrations,
    findings: Object.values(base.findingsByKind).reduce((a, b) => a + b, 0),
  };
}
