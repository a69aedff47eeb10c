/**
 * One read of a caller's hbSysMem. Every function reads each field of a caller's object
 * exactly once, into a snapshot, validates the snapshot and acts on it: no getter, Proxy or
 * accessor can make the value used differ from the value checked.
 */

import { type hbSysMem, RAW_VIR_ADDR } from './mem.js';

/** The three fields of an hbSysMem, each read once, and the object they came from. */
export interface MemSnapshot {
  /** `mem.phyAddr` as read (not yet validated). */
  readonly phyAddr: unknown;
  /** The mapping, read past the sanitizer's accessor (the library's read is not the CPU's). */
  readonly virAddr: unknown;
  /** `mem.memSize` as read (not yet validated). */
  readonly memSize: unknown;
  /** The caller's object, for out-parameters and identity only: never read its fields again. */
  readonly source: hbSysMem;
  /**
   * Free and unregister: `mem.virAddr`'s own property descriptor as the check that it can be
   * cleared read it (null: no own property), so that clearing it, and putting it back when
   * the clear is refused, does not read it again. Undefined for other calls.
   */
  readonly virAddrField?: PropertyDescriptor | null;
}

/**
 * Reads `mem`'s fields once. Returns the error text when reading throws (a getter or a
 * Proxy trap), so that callers can fail with a code instead of throwing.
 */
export function snapshotMem(
  mem: hbSysMem,
  virAddrField?: PropertyDescriptor | null,
): MemSnapshot | { readonly error: string } {
  try {
    const phyAddr = mem.phyAddr;
    // The sanitizer's slot when it installed its accessor, else the field itself. Only
    // reads (no descriptor or `in` checks), so a Proxy sees nothing but two gets.
    const slot = (mem as { [RAW_VIR_ADDR]?: unknown })[RAW_VIR_ADDR];
    const virAddr = slot !== undefined ? slot : mem.virAddr;
    const memSize = mem.memSize;
    return { phyAddr, virAddr, memSize, source: mem, virAddrField };
  } catch (error) {
    return { error: errorText(error) };
  }
}

/** The text of something a caller's code threw; never throws itself. */
export function errorText(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'a value that cannot be shown';
  }
}
