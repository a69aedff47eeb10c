/**
 * What a BPU kernel is: a plan made on the CPU side (validate the arguments, declare every
 * range the job reads and writes, flatten the arguments to numbers) and a device function
 * that runs in the BPU worker over physical memory.
 *
 * Declaring ranges up front is what lets the emulator check each job before it runs (live
 * memory only, cache hazards) and keep track of what is in flight.
 */

import { HB_SYS_INVALID_ARGUMENT, HbSysError } from '../../status.js';

/** A range of physical memory. */
export interface DeviceRange {
  readonly phyAddr: bigint;
  readonly size: number;
  /** Which argument it is, for messages ("src", "weights"). */
  readonly role: string;
}

/** A job, planned: what it touches, and its arguments as numbers for the worker. */
export interface JobPlan {
  readonly reads: readonly DeviceRange[];
  readonly writes: readonly DeviceRange[];
  /** Numeric parameters; physical addresses appear as plain numbers. */
  readonly params: readonly number[];
  /** Bytes moved, for statistics. */
  readonly bytes: number;
}

/** Resolves a physical address to the plane that holds it and the offset inside. */
export type AddressResolver = (phyAddr: number, size: number) => { plane: Buffer; offset: number };

export interface Kernel<Args> {
  readonly name: string;
  plan(args: Args): JobPlan;
  /** Runs on the device. `params` are the plan's params. Throws on a device fault. */
  run(resolve: AddressResolver, params: Float64Array): void;
}

/** The largest number of numeric parameters a job carries. */
export const MAX_PARAMS = 16;

/** Argument checks shared by the kernels; each throws an HbSysError that names the argument. */
export function argError(kernel: string, message: string): HbSysError {
  return new HbSysError(HB_SYS_INVALID_ARGUMENT, `bpu.run('${kernel}'): ${message}`);
}

export function needAddress(kernel: string, name: string, v: unknown): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 53n) {
    throw argError(
      kernel,
      `${name} must be a physical address as a bigint (a buffer's phyAddr), got ${typeof v}`,
    );
  }
  return v;
}

export function needInt(
  kernel: string,
  name: string,
  v: unknown,
  min: number,
  max: number,
): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw argError(kernel, `${name} must be an integer in ${min} … ${max}, got ${String(v)}`);
  }
  return v;
}

export function needObject(kernel: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) {
    throw argError(kernel, `args must be an object, got ${v === null ? 'null' : typeof v}`);
  }
  return v as Record<string, unknown>;
}
