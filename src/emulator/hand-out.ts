/**
 * Handing a mapping to the caller: writing `virAddr` (and, for an allocation, `phyAddr`
 * and `memSize`) into the caller's hbSysMem. With the sanitizer off, `virAddr` is a plain
 * field. With it on, `virAddr` becomes an accessor, so that the program's reads of it can
 * be checked: a read takes a pointer, which Hazards.pointerTaken checks lazily, and only
 * when the sanitizer's epoch moved since this mem's last look (a device write, an
 * INVALIDATE, a job submitted or completed), so a loop over `mem.virAddr[i]` costs one
 * compare per read.
 *
 * The writes themselves go through out-param.ts (every field or none); what is here is
 * what they write.
 */

import type { hbSysMem } from '../mem.js';
import { RAW_VIR_ADDR } from '../mem.js';
import { fillFields } from '../out-param.js';
import { addressBigInt } from './address-bigints.js';
import type { Hazards } from './hazards.js';
import type { Mapping } from './mappings.js';
import { sanitizerEpoch } from './sanitizer.js';

/**
 * Fills an allocation's mem with the sanitizer off (`virAddr` a plain field): the fields
 * from module state, not a closure made per call. Returns why the caller's object refused
 * them (then already put back), or undefined.
 */
export function fillAllocation(
  mem: hbSysMem,
  phyAddr: number,
  view: Uint8Array,
  size: number,
): string | undefined {
  allocOut.phyAddr = phyAddr;
  allocOut.view = view;
  allocOut.size = size;
  const filled = fillFields(mem, writeAllocFields);
  allocOut.view = undefined;
  return filled;
}

/**
 * Fills an allocation's mem with the sanitizer on: `virAddr` the checked accessor (see
 * {@link setVirAddr}). Returns why the caller's object refused (then put back), or undefined.
 */
export function fillChecked(
  mem: hbSysMem,
  phyAddr: number,
  view: Uint8Array,
  size: number,
  m: Mapping,
  hazards: Hazards,
): string | undefined {
  return fillFields(mem, (out) => {
    out.phyAddr = BigInt(phyAddr);
    setVirAddr(out, view, m, hazards);
    out.memSize = size;
  });
}

/**
 * Fills a registration's mem: `virAddr` only (the caller gave phyAddr and memSize), checked
 * by `hazards` when the sanitizer is on. Returns why the caller's object refused (then put
 * back), or undefined.
 */
export function fillRegistration(
  mem: hbSysMem,
  view: Uint8Array,
  reg: Mapping,
  hazards: Hazards | undefined,
): string | undefined {
  return fillFields(mem, (out) => setVirAddr(out, view, reg, hazards), false);
}

/**
 * Hands `m`'s mapping `view` to `mem`: checked by `hazards` (the sanitizer on), or a plain
 * field (`hazards` undefined, or a `virAddr` that cannot be redefined).
 */
function setVirAddr(
  mem: hbSysMem,
  view: Uint8Array,
  m: Mapping,
  hazards: Hazards | undefined,
): void {
  if (hazards === undefined) {
    mem.virAddr = view;
    return;
  }
  const d = Object.getOwnPropertyDescriptor(mem, 'virAddr');
  if (d !== undefined && d.configurable === false) {
    mem.virAddr = view;
    return;
  }
  const own = (key: symbol, value: unknown) =>
    Object.defineProperty(mem, key, { value, writable: true, configurable: true });
  own(RAW_VIR_ADDR, view);
  own(SEEN_EPOCH, -1);
  own(CHECKER, { m, hazards } satisfies Checker);
  Object.defineProperty(mem, 'virAddr', {
    enumerable: true,
    configurable: true,
    get: checkedVirAddr,
    set: setCheckedVirAddr,
  });
}

/**
 * Removes what setVirAddr added beside `virAddr` (whose own restore is out-param.ts's) from
 * a mem whose call failed: it leaves as it came.
 */
export function forgetChecker(mem: object): void {
  try {
    if (Object.hasOwn(mem, CHECKER)) delete (mem as Partial<CheckedMem>)[CHECKER];
    if (Object.hasOwn(mem, SEEN_EPOCH)) delete (mem as Partial<CheckedMem>)[SEEN_EPOCH];
  } catch {
    // An object that refuses the delete keeps two inert symbols: nothing reads them.
  }
}

/** What writeAllocFields writes: set just before, by fillAllocation. */
const allocOut: { phyAddr: number; view: Uint8Array | undefined; size: number } = {
  phyAddr: 0,
  view: undefined,
  size: 0,
};

function writeAllocFields(out: hbSysMem): void {
  // Read before the first write: a setter of the caller's may allocate again, and reuse
  // allocOut.
  const phyAddr = addressBigInt(allocOut.phyAddr);
  const view = allocOut.view!;
  const size = allocOut.size;
  out.phyAddr = phyAddr;
  out.virAddr = view;
  out.memSize = size;
}

/** RAW_VIR_ADDR as a constant of this module, which the getter's loads fold (an import does not). */
const RAW: typeof RAW_VIR_ADDR = RAW_VIR_ADDR;
/** The sanitizer's epoch as a constant of this module, for the same reason. */
const EPOCH = sanitizerEpoch;
/** Where a checked hbSysMem keeps the epoch its accessor last looked at. */
const SEEN_EPOCH: unique symbol = Symbol('hbsys.seenEpoch');
/** Where a checked hbSysMem keeps what its accessor checks. */
const CHECKER: unique symbol = Symbol('hbsys.checker');

interface Checker {
  readonly m: Mapping;
  readonly hazards: Hazards;
}

interface CheckedMem {
  [RAW_VIR_ADDR]: Uint8Array | null;
  [SEEN_EPOCH]: number;
  [CHECKER]: Checker | undefined;
}

/**
 * The getter of a checked `virAddr`: one function shared by every hbSysMem, its state on
 * the object under private symbols, so that V8 inlines it and a loop over `mem.virAddr[i]`
 * pays one compare per read.
 */
function checkedVirAddr(this: CheckedMem): Uint8Array | null {
  const view = this[RAW];
  if (EPOCH.value !== this[SEEN_EPOCH]) {
    this[SEEN_EPOCH] = EPOCH.value;
    const c = this[CHECKER];
    if (c !== undefined && view !== null && c.m.live && view === c.m.view) {
      c.hazards.pointerTaken('mem.virAddr', c.m, 0, c.m.size);
    }
  }
  return view;
}

function setCheckedVirAddr(this: CheckedMem, v: Uint8Array | null): void {
  this[RAW] = v;
}
