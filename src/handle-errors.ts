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

// A sub-range mem (a crop: `phyAddr + off`, `virAddr.subarray(off)`, the sub-range's
// memSize). The texts name the field without its struct (`virAddr …`), so that the hbSys
// calls say `mem.virAddr …` and the model API `input[0].sysMem[0].virAddr …`.

/** A crop whose view starts outside its mapping (before it, or at or past its end). */
export function subRangeOutsideText(phyAddr: number | bigint, size: number): string {
  return (
    `virAddr is a view that starts outside its mapping at 0x${hex(phyAddr)} (${size} ` +
    'bytes): a sub-range mem must lie inside the allocation or registration'
  );
}

/** A crop whose phyAddr is not its mapping's address plus where its view starts. */
export function subRangePhyAddrText(given: unknown, phyAddr: number | bigint, at: number): string {
  const start = typeof phyAddr === 'bigint' ? phyAddr + BigInt(at) : phyAddr + at;
  return (
    `phyAddr (${describe(given)}) does not match virAddr, a view ${at} bytes into the ` +
    `mapping at 0x${hex(phyAddr)}: for a sub-range set phyAddr = 0x${hex(phyAddr)} + ${at} ` +
    `= 0x${hex(start)}, with virAddr = virAddr.subarray(${at})`
  );
}

/** A crop whose memSize does not end inside its mapping. */
export function subRangeSizeText(
  phyAddr: number | bigint,
  size: number,
  at: number,
  given: unknown,
): string {
  return (
    `memSize must be an integer in 1 … ${size - at}: this sub-range starts ${at} bytes into ` +
    `its mapping of ${size} bytes at 0x${hex(phyAddr)}, and must end inside it; ` +
    `got ${describe(given)}`
  );
}

/** A crop passed where only the hbSysMem the alloc or register call filled will do. */
export function failSubRange(
  fn: string,
  phyAddr: number | bigint,
  at: number,
  what: string,
): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `this mem's virAddr is a view (${at} bytes into the mapping at 0x${hex(phyAddr)}) other ` +
      `than the one handed out, a sub-range mem, which cannot be ${what}`,
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
