/**
 * What the sanitizer's buggy programs and their fixed twins share (not a test file): a
 * fresh sanitized machine, memory to work on, and the kinds found once the program's
 * synchronous run has ended.
 */

import assert from 'node:assert/strict';
import {
  emulator,
  type FindingKind,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFreeMem,
  type hbSysMem,
} from '../../src/index.js';

/** A small machine under the sanitizer, with no findings yet. */
export async function sanitized(
  mode: 'report' | 'throw' = 'report',
  stacks = false,
): Promise<void> {
  await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: mode, stacks });
  emulator.clearFindings();
}

/**
 * The kinds found, once each, after the program's synchronous run has ended (pointers
 * taken during the run are checked as it ends).
 */
export async function kinds(): Promise<FindingKind[]> {
  await Promise.resolve();
  return [...new Set(emulator.findings().map((f) => f.kind))];
}

/** An allocation of `size` bytes, cached or not. */
export function mem(size: number, cached: boolean): hbSysMem {
  const m = {} as hbSysMem;
  const code = cached ? hbSysAllocCachedMem(m, size) : hbSysAllocMem(m, size);
  assert.equal(code, HB_SYS_SUCCESS);
  return m;
}

/** Frees everything the program made, so that no leak finding adds to the one tested. */
export function freeAll(...mems: hbSysMem[]): void {
  for (const m of mems) assert.equal(hbSysFreeMem(m), HB_SYS_SUCCESS);
}
