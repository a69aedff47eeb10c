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

type Key = 'phyAddr' | 'virAddr' | 'memSize' | typeof RAW_VIR_ADDR;

/** Puts the recorded properties back; best effort (a hostile object may refuse again). */
export type Restore = () => void;

/**
 * Runs `write` against `mem`, recording first the own properties it may touch. Returns a
 * function that restores them, or the reason `write` failed (then already restored).
 */
export function writeFields(mem: hbSysMem, write: (mem: hbSysMem) => void): Restore | string {
  let recorded: [Key, PropertyDescriptor | undefined][];
  try {
    recorded = (['phyAddr', 'virAddr', 'memSize', RAW_VIR_ADDR] as const).map((k) => [
      k,
      Object.getOwnPropertyDescriptor(mem, k),
    ]);
  } catch (error) {
    return reason(error);
  }
  const restore = () => {
    for (const [key, d] of recorded) {
      try {
        if (d === undefined) Reflect.deleteProperty(mem, key);
        else Reflect.defineProperty(mem, key, d);
      } catch {
        // Nothing more can be done for an object that refuses its own old value.
      }
    }
  };
  try {
    write(mem);
  } catch (error) {
    restore();
    return reason(error);
  }
  return restore;
}

/** Sets `mem.virAddr` to null, as free and unregister do; see {@link writeFields}. */
export function clearVirAddr(mem: hbSysMem): Restore | string {
  return writeFields(mem, (m) => {
    m.virAddr = null;
  });
}
