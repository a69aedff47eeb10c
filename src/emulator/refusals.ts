/**
 * What a refused handle costs the call: the sanitizer's finding (which throws in throw mode
 * before anything is recorded), the message and the status code. handles.ts says why a mem
 * is no handle, as a value; this is the one place that turns each reason into what the
 * program sees, for every function of the machine. The wording is handle-errors.ts's,
 * shared with the board's backend.
 */

import { describe } from '../describe.js';
import {
  failForeignMapping,
  failMemSize,
  failMovedPhyAddr,
  failNoMapping,
  failStale,
  failSubRange,
  subRangeOutsideText,
  subRangePhyAddrText,
  subRangeSizeText,
} from '../handle-errors.js';
import type { hbSysMem } from '../mem.js';
import type { MemSnapshot } from '../snapshot.js';
import { fail, HB_SYS_INVALID_ARGUMENT, type HbSysFailureCode } from '../status.js';
import type { Refusal } from './handles.js';
import type { Hazards } from './hazards.js';

/** The sanitizer's side of a refusal: the machine's checks, and whether it is on. */
export interface SanitizerChecks {
  readonly hazards: Hazards;
  readonly sanitizer: { readonly on: boolean };
}

/**
 * What the call `fn` returns for a mem that is no handle it can use: the sanitizer's
 * finding (which throws in throw mode before anything is recorded), the message, the
 * status code. Every refusal of a handle goes through here.
 */
export function refuse(
  checks: SanitizerChecks,
  fn: string,
  mem: MemSnapshot,
  r: Refusal,
): HbSysFailureCode {
  const { hazards } = checks;
  const free = fn === 'hbSysFreeMem';
  switch (r.reason) {
    case 'null':
      if (r.ended !== undefined) hazards.ended(fn, r.ended);
      else if (free) hazards.invalidFree(asShown(mem));
      else if (checks.sanitizer.on) hazards.notAHandle(fn, asShown(mem), 'is null');
      return failNoMapping(fn);
    case 'foreign':
      if (free) hazards.invalidFree(asShown(mem));
      else if (checks.sanitizer.on) {
        hazards.notAHandle(fn, asShown(mem), 'is not a mapping hbsys made');
      }
      return failForeignMapping(fn);
    case 'stale':
      hazards.ended(fn, r.m);
      return failStale(fn, r.m.phyAddr, r.m.kind === 'registration');
    case 'outside':
      return fail(HB_SYS_INVALID_ARGUMENT, fn, `mem.${subRangeOutsideText(r.m.phyAddr, r.m.size)}`);
    case 'phyAddr':
      if (free) hazards.invalidFree(asShown(mem));
      if (r.at !== 0) {
        return fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `mem.${subRangePhyAddrText(r.given, r.m.phyAddr, r.at)}`,
        );
      }
      return failMovedPhyAddr(fn, r.given, r.m.phyAddr);
    case 'memSize':
      if (r.at === 0) return failMemSize(fn, r.m.size, r.given);
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `mem.${subRangeSizeText(r.m.phyAddr, r.m.size, r.at, r.given)}`,
      );
    case 'subRange':
      return failSubRange(
        fn,
        r.m.phyAddr,
        r.at,
        free
          ? 'freed: free the hbSysMem the alloc call filled'
          : 'unregistered: pass the hbSysMem hbSysRegisterMem filled',
      );
  }
}

/** What the sanitizer shows of a mem that is no handle: values, never the caller's code. */
function asShown(mem: MemSnapshot): hbSysMem {
  const { phyAddr, memSize } = mem;
  return {
    phyAddr: (typeof phyAddr === 'bigint' ? phyAddr : describe(phyAddr)) as bigint,
    virAddr: null,
    memSize: typeof memSize === 'number' ? memSize : 0,
  };
}
