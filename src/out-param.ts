/**
 * Writing a caller's hbSysMem as an out-parameter: every field or none.
 *
 * A caller's object may refuse a write (a frozen prototype, a setter or Proxy trap that
 * throws). Before writing, the own properties involved are recorded (their descriptors, so
 * no getter runs); when a write fails, those recorded are put back, and the caller undoes
 * whatever the call did before it (frees the block, ends the registration). So a failing
 * call leaves the object as it was, and the machine too.
 */

import { type hbSysMem, RAW_VIR_ADDR } from './mem.js';
import { errorText as reason } from './snapshot.js';

/** Puts the recorded properties back; best effort (a hostile object may refuse again). */
export interface Restore {
  restore(): void;
}

/**
 * The own properties a write may touch, as they were: the fields it writes, and the
 * sanitizer's slot behind an accessor `virAddr`. Plain fields, not arrays and closures:
 * alloc and free run this on every call.
 */
class Recorded implements Restore {
  private readonly phyAddr: PropertyDescriptor | undefined;
  private readonly virAddr: PropertyDescriptor | undefined;
  private readonly memSize: PropertyDescriptor | undefined;
  private readonly slot: PropertyDescriptor | undefined;

  /** `all`: phyAddr and memSize are written too (alloc), not only virAddr. */
  constructor(
    private readonly mem: hbSysMem,
    private readonly all: boolean,
    known: PropertyDescriptor | null | undefined,
  ) {
    if (all) {
      // Alloc's mem is usually a fresh `{}`: hasOwn says "none" without making descriptors.
      this.phyAddr = own(mem, 'phyAddr');
      this.virAddr = own(mem, 'virAddr');
      this.memSize = own(mem, 'memSize');
    } else {
      this.phyAddr = undefined;
      this.virAddr = knownOr(mem, known);
      this.memSize = undefined;
    }
    this.slot =
      RAW_VIR_ADDR in mem ? Object.getOwnPropertyDescriptor(mem, RAW_VIR_ADDR) : undefined;
  }

  restore(): void {
    putBack(this.mem, this.all, this.phyAddr, this.virAddr, this.memSize, this.slot);
  }
}

/** Puts back what a recording held, in one order for {@link Recorded} and {@link fillFields}. */
function putBack(
  mem: hbSysMem,
  all: boolean,
  phyAddr: PropertyDescriptor | undefined,
  virAddr: PropertyDescriptor | undefined,
  memSize: PropertyDescriptor | undefined,
  slot: PropertyDescriptor | undefined,
): void {
  put(mem, 'virAddr', virAddr);
  put(mem, RAW_VIR_ADDR, slot);
  if (!all) return;
  put(mem, 'phyAddr', phyAddr);
  put(mem, 'memSize', memSize);
}

/**
 * `mem`'s own virAddr as the caller's check already read it (`known`: null for none), or,
 * when it did not, as read now.
 */
function knownOr(mem: hbSysMem, known: PropertyDescriptor | null | undefined) {
  if (known !== undefined) return known ?? undefined;
  return Object.getOwnPropertyDescriptor(mem, 'virAddr');
}

/** `mem`'s own `key`, or undefined: the same as getOwnPropertyDescriptor, cheaper when absent. */
function own(mem: hbSysMem, key: string): PropertyDescriptor | undefined {
  return Object.hasOwn(mem, key) ? Object.getOwnPropertyDescriptor(mem, key) : undefined;
}

function put(mem: hbSysMem, key: PropertyKey, d: PropertyDescriptor | undefined): void {
  try {
    if (d === undefined) Reflect.deleteProperty(mem, key);
    else Reflect.defineProperty(mem, key, d);
  } catch {
    // Nothing more can be done for an object that refuses its own old value.
  }
}

/**
 * Runs `write` against `mem`, recording first the own properties it may touch (with `all`,
 * phyAddr and memSize as well as virAddr). Returns what restores them, or the reason
 * `write` failed (then already restored).
 */
export function writeFields(
  mem: hbSysMem,
  write: (mem: hbSysMem) => void,
  all = true,
  knownVirAddr?: PropertyDescriptor | null,
): Restore | string {
  let recorded: Recorded;
  try {
    recorded = new Recorded(mem, all, knownVirAddr);
  } catch (error) {
    return reason(error);
  }
  try {
    write(mem);
  } catch (error) {
    recorded.restore();
    return reason(error);
  }
  return recorded;
}

/**
 * {@link writeFields} for callers that never undo a write that succeeded (the emulator's
 * alloc, free, register and unregister): the same recording and the same restore on
 * failure, kept in locals instead of an object made per call. Returns the reason `write`
 * failed (then already restored), or undefined.
 */
export function fillFields(
  mem: hbSysMem,
  write: (mem: hbSysMem) => void,
  all = true,
  knownVirAddr?: PropertyDescriptor | null,
): string | undefined {
  let phyAddr: PropertyDescriptor | undefined;
  let virAddr: PropertyDescriptor | undefined;
  let memSize: PropertyDescriptor | undefined;
  let slot: PropertyDescriptor | undefined;
  try {
    // As Recorded does, in the same order.
    if (all) {
      phyAddr = own(mem, 'phyAddr');
      virAddr = own(mem, 'virAddr');
      memSize = own(mem, 'memSize');
    } else {
      virAddr = knownOr(mem, knownVirAddr);
    }
    slot = RAW_VIR_ADDR in mem ? Object.getOwnPropertyDescriptor(mem, RAW_VIR_ADDR) : undefined;
  } catch (error) {
    return reason(error);
  }
  try {
    write(mem);
  } catch (error) {
    putBack(mem, all, phyAddr, virAddr, memSize, slot);
    return reason(error);
  }
  return undefined;
}

const writeNull = (m: hbSysMem) => {
  m.virAddr = null;
};

/**
 * Sets `mem.virAddr` to null, as free and unregister do; see {@link writeFields}. `known`:
 * its own descriptor as the caller already read it (null for none), so it is not read again.
 */
export function clearVirAddr(mem: hbSysMem, known?: PropertyDescriptor | null): Restore | string {
  return writeFields(mem, writeNull, false, known);
}

/** {@link clearVirAddr} without the undo: see {@link fillFields}. */
export function nullVirAddr(mem: hbSysMem, known?: PropertyDescriptor | null): string | undefined {
  return fillFields(mem, writeNull, false, known);
}
