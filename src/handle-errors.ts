/**
 * The failures every backend reports for an hbSysMem that is not a live handle, worded
 * once so that the emulator and the board say the same thing. Each records the failure
 * (see status.ts) and returns its code.
 */

import { describe } from './describe.js';
import { fail, HB_SYS_INVALID_ARGUMENT, type HbSysFailureCode } from './status.js';

/** An address in hex, as the board's tools print it. */
export function hex(n: number | bigint): string {
  return n.toString(16).padStart(8, '0');
}

export function failNoMapping(fn: string): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    'mem.virAddr is null: this hbSysMem was freed or unregistered, or never filled by ' +
      'an alloc or register call',
  );
}

export function failForeignMapping(fn: string): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    'mem.virAddr is not a mapping made by hbSysAllocMem, hbSysAllocCachedMem or ' +
      'hbSysRegisterMem: pass the hbSysMem those calls filled',
  );
}

export function failStale(
  fn: string,
  phyAddr: number | bigint,
  registration: boolean,
): HbSysFailureCode {
  const what = registration ? 'unregistered' : 'freed';
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `stale hbSysMem: the memory at 0x${hex(phyAddr)} it refers to was ${what}; ` +
      'a copy of a freed hbSysMem must not be used',
  );
}

export function failMovedPhyAddr(
  fn: string,
  given: unknown,
  phyAddr: number | bigint,
): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `mem.phyAddr (${describe(given)}) does not match its mapping at 0x${hex(phyAddr)}: ` +
      'do not change phyAddr',
  );
}

export function failMemSize(fn: string, size: number, given: unknown): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `mem.memSize must be an integer in 1 … ${size} (the size of the memory), got ${describe(given)}`,
  );
}

/** The caller's object refused an out-parameter; the call undid what it had done. */
export function failUnfillable(fn: string, why: string, undone: string): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `mem refused a field hbsys writes (${why}); ${undone}: pass a plain, writable object`,
  );
}

/** Host bytes that shrank (a resizable ArrayBuffer) below the size already checked. */
export function failShrunk(fn: string, name: string, size: number, left: number): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `${name} holds ${left} bytes now, fewer than size (${size}): its ArrayBuffer was resized ` +
      'or detached during the call; nothing was copied',
  );
}
