/**
 * What a block handed to a new owner holds: zeros, as the ION heap hands memory out, in
 * physical memory and, for cached memory, in the CPU's copy too (the cache model, cache/),
 * with the sanitizer's marks of its lines forgotten. The address space (address-space.ts)
 * takes the block; this makes it fresh. It runs on every allocation, so the common case
 * (cached, strict, whole chunks, nothing in flight) takes the cache model's fast path.
 */

import type { FreshBlocks } from './address-space.js';
import {
  beforeDeviceWrite,
  mayKeepReference,
  wholeChunks,
  zeroWholeChunks,
} from './cache/index.js';
import type { InFlightJob } from './in-flight-job.js';
import type { Owner } from './mappings.js';
import type { Region } from './physical-memory.js';
import type { Sanitizer } from './sanitizer.js';

/** What a fresh block needs of the machine: the jobs in flight. */
export interface JobsOver {
  /** A BPU job in flight that uses a byte of `[phyAddr, phyAddr + size)`, if any. */
  inFlightOver(phyAddr: number, size: number): { job: InFlightJob } | undefined;
}

export class FreshMemory implements FreshBlocks {
  private readonly strict: boolean;
  private readonly sanitizer: Sanitizer;
  private readonly jobs: JobsOver;

  constructor(strict: boolean, sanitizer: Sanitizer, jobs: JobsOver) {
    this.strict = strict;
    this.sanitizer = sanitizer;
    this.jobs = jobs;
  }

  prepareBlock(
    region: Region,
    offset: number,
    blockBytes: number,
    kind: Owner['kind'],
    cached: boolean,
  ): boolean {
    // The CPU's copy of uncached memory is zeroed when a registration first maps it.
    const zeroCpuCopy = cached || !this.strict;
    if (
      this.strict &&
      cached &&
      !this.sanitizer.on &&
      wholeChunks(offset, blockBytes) &&
      this.jobs.inFlightOver(region.base + offset, blockBytes) === undefined
    ) {
      zeroWholeChunks(region, offset, blockBytes);
    } else {
      if (this.strict && mayKeepReference(region, offset, blockBytes)) {
        beforeDeviceWrite(region, offset, offset + blockBytes);
      }
      region.zero(offset, blockBytes, zeroCpuCopy ? 'all' : 'memory');
    }
    if (this.sanitizer.on) this.sanitize(region, offset, blockBytes, kind, cached);
    return zeroCpuCopy;
  }

  /** The sanitizer's side of a fresh block (a method of its own: the hot path stays small). */
  private sanitize(
    region: Region,
    offset: number,
    blockBytes: number,
    kind: Owner['kind'],
    cached: boolean,
  ): void {
    this.sanitizer.device.forget(region, offset, blockBytes);
    // The CPU's copy of fresh cached memory holds a pattern, so that a CPU write of any
    // bytes, zeros included, makes its lines dirty (see README, the sanitizer).
    if (this.strict && cached && kind === 'allocation') region.fillCpuCopy(offset, blockBytes);
  }
}
