/**
 * Memory that live hbDNN tasks of other threads hold, as free and unregister see it: the
 * board's shared table of held ranges (tasks.ts writes each thread's there). Installed on
 * every machine of every thread, whether or not the thread uses hbDNN itself, since the
 * memory of another thread's task may be freed from any thread.
 */

import { threadId } from 'node:worker_threads';
import { hex } from '../../handle-errors.js';
import type { Machine } from '../machine.js';
import { type RangeRow, SharedRanges } from '../shared-ranges.js';

/** Flags of a held range in the shared table: an output, and the task's state. */
export const HELD_OUTPUT = 1;
export const HELD_OPEN = 2;
export const HELD_RELEASED = 4;

/** The check free and unregister call (under the lock): why another thread's task holds it. */
export function heldByOtherThreads(
  machine: Machine,
): (phyAddr: number, size: number) => string | undefined {
  const table = new SharedRanges(machine.board.share.held);
  return (phyAddr, size) =>
    table.live === 0 ? undefined : heldElsewhere(table.others(threadId, phyAddr, size));
}

/** Why `[phyAddr, phyAddr + size)` may not be freed, if another thread's task holds it. */
function heldElsewhere(rows: readonly RangeRow[]): string | undefined {
  const r = rows[0];
  if (r === undefined) return undefined;
  const role = (r.flags & HELD_OUTPUT) !== 0 ? 'an output' : 'an input';
  const what =
    `the memory holds ${role} ([0x${hex(r.phyAddr)}, 0x${hex(r.phyAddr + r.size)})) of ` +
    `${r.text}, a task of thread ${r.thread}`;
  if ((r.flags & HELD_OPEN) !== 0) {
    return (
      `${what}, still open there (its last hbDNNInfer had inferCtrlParam.more = 1): that ` +
      'thread must submit and wait for it, or release it, first'
    );
  }
  if ((r.flags & HELD_RELEASED) !== 0) {
    return (
      `${what}, released there before it completed while the BPU was running it: a started ` +
      'job runs to its end, so try again once it has'
    );
  }
  return (
    `${what}, which has not completed as far as that thread knows: that thread must wait ` +
    'for it with hbDNNWaitTaskDone (or release it with hbDNNReleaseTask) first'
  );
}
