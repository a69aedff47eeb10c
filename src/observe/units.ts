/**
 * The one hex format and the one time base of every hbsys observer (stats, dumps, traces,
 * findings, the CLI's reports):
 * - a physical address is `0x` and at least 8 lowercase hex digits (`0x04000000`), as the
 *   board's tools print it, and a string in JSON (JSON numbers lose precision past 2^53);
 * - a time is milliseconds since the process started (`performance.now()`), whichever
 *   backend and however many `emulator.reset()`s; traces, whose format counts in
 *   microseconds, count the same clock in microseconds.
 */

import type { Machine } from '../emulator/machine.js';
import { hex } from '../handle-errors.js';

/** A physical address as the board's tools print it: `0x` and at least 8 lowercase hex digits. */
export type HexAddress = string;

/** `n` as a {@link HexAddress}. */
export function hexAddress(n: number | bigint): HexAddress {
  return `0x${hex(n)}`;
}

/** A hex string in any case or width (`0x4000000`, `0X04000000`) in the one format; else as it was. */
export function normalHex(value: string): string {
  return /^0x[0-9a-f]+$/i.test(value) ? hexAddress(BigInt(value.toLowerCase())) : value;
}

/** A machine event's time (ms since that machine was made) on the process clock. */
export function processTime(machine: Machine, machineTime: number): number {
  return machine.createdAt + machineTime;
}
