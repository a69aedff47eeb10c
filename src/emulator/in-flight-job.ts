/**
 * What a BPU job in flight is, as the machine's checks see it: the physical ranges it uses,
 * and (sanitizer on) its inputs as they were at submission. The BPU makes them (bpu.ts),
 * in-flight.ts keeps every thread's, and the checks (hazards.ts, the cache model's trust in
 * a flush, a fresh block's zeroing) ask which one uses an address.
 */

import type { Region } from './physical-memory.js';

/** A BPU job that has been submitted and has not completed. */
export interface InFlightJob {
  readonly id: number;
  readonly kernel: string;
  /** Physical ranges it reads and writes. */
  readonly ranges: readonly { readonly phyAddr: number; readonly size: number }[];
  /**
   * The ranges it writes, for entries that end when the program syncs rather than when the
   * device finishes (a model task ends at hbDNNWaitTaskDone): the CPU must not touch them.
   */
  readonly outputs?: readonly { readonly phyAddr: number; readonly size: number }[];
  /** What the program calls to learn that it completed, for messages. */
  readonly completion?: string;
  /**
   * Its inputs as they were at submission (sanitizer on), compared at completion: a change
   * is a CPU write to the input of a job in flight. Dropped where a device writes them.
   */
  readonly inputs?: InputSnapshot[];
}

/**
 * A job's input as the CPU could change it, at submission: the dirty lines of cached memory
 * (a CPU write through the cache adds to them), or the bytes of uncached memory.
 */
export interface InputSnapshot {
  readonly region: Region;
  readonly offset: number;
  readonly size: number;
  readonly dirty: ReadonlySet<number> | undefined;
  readonly bytes: Buffer | undefined;
}

/** A job of `jobs` that uses a byte of `[phyAddr, phyAddr + size)`, with that range. */
export function jobOver(
  jobs: Iterable<InFlightJob>,
  phyAddr: number,
  size: number,
): { job: InFlightJob; range: InFlightJob['ranges'][number] } | undefined {
  for (const job of jobs) {
    for (const range of job.ranges) {
      if (phyAddr < range.phyAddr + range.size && range.phyAddr < phyAddr + size) {
        return { job, range };
      }
    }
  }
  return undefined;
}
