/**
 * Status codes of the vendor header (`dnn/hb_sys.h`), their descriptions, and the
 * error class of the idiomatic API.
 *
 * The C functions return a code and nothing else. So that a caller can still learn *why*
 * a call failed, every failure also records a detail message, readable with
 * {@link hbSysGetLastError} (errno-style: it is overwritten by the next failure only).
 */

import { describe } from './describe.js';

/** The call succeeded. */
export const HB_SYS_SUCCESS = 0;
/** An argument was wrong: a bad size, flag or hbSysMem, or a handle that is not live. */
export const HB_SYS_INVALID_ARGUMENT = -6000129;
/** No room in the ION heap, or the per-process descriptor budget is spent. */
export const HB_SYS_OUT_OF_MEMORY = -6000130;
/** The range to register is unknown to the system or already registered. */
export const HB_SYS_REGISTER_MEM_FAILED = -6000131;
/**
 * hbsys's own code, not the vendor's: the backend could not be loaded (for `native`,
 * libdnn.so; or `HBSYS_BACKEND` names no backend). Every call fails with it, and
 * {@link hbSysGetLastError} says why and which paths were tried.
 */
export const HBSYS_BACKEND_UNAVAILABLE = -6000999;

/** The names of the status codes, as in the vendor header. */
export type HbSysStatusName =
  | 'HB_SYS_SUCCESS'
  | 'HB_SYS_INVALID_ARGUMENT'
  | 'HB_SYS_OUT_OF_MEMORY'
  | 'HB_SYS_REGISTER_MEM_FAILED'
  | 'HBSYS_BACKEND_UNAVAILABLE';

const NAMES: ReadonlyMap<number, HbSysStatusName> = new Map([
  [HB_SYS_SUCCESS, 'HB_SYS_SUCCESS'],
  [HB_SYS_INVALID_ARGUMENT, 'HB_SYS_INVALID_ARGUMENT'],
  [HB_SYS_OUT_OF_MEMORY, 'HB_SYS_OUT_OF_MEMORY'],
  [HB_SYS_REGISTER_MEM_FAILED, 'HB_SYS_REGISTER_MEM_FAILED'],
  [HBSYS_BACKEND_UNAVAILABLE, 'HBSYS_BACKEND_UNAVAILABLE'],
]);

const DESCRIPTIONS: ReadonlyMap<number, string> = new Map([
  [HB_SYS_SUCCESS, 'success'],
  [HB_SYS_INVALID_ARGUMENT, 'invalid argument'],
  [HB_SYS_OUT_OF_MEMORY, 'out of memory'],
  [HB_SYS_REGISTER_MEM_FAILED, 'register memory failed'],
  [
    HBSYS_BACKEND_UNAVAILABLE,
    'the hbsys backend could not be loaded (hbSysGetLastError() says why); not an argument error',
  ],
]);

/** The name of a status code, or `undefined` for a number that is not one. */
export function hbSysStatusName(code: number): HbSysStatusName | undefined {
  return NAMES.get(code);
}

/**
 * A human description of a status code, as `hbDNNGetErrorDesc` gives for the DNN codes.
 *
 * @example
 * ```ts
 * hbSysGetErrorDesc(HB_SYS_OUT_OF_MEMORY); // 'HB_SYS_OUT_OF_MEMORY (-6000130): out of memory'
 * ```
 */
export function hbSysGetErrorDesc(code: number): string {
  const name = NAMES.get(code);
  if (name === undefined) return `unknown status code ${describe(code)}`;
  return `${name} (${code}): ${DESCRIPTIONS.get(code)}`;
}

/** What the last failing call said: its function, code and a message saying what to do. */
export interface HbSysFailure {
  readonly fn: string;
  readonly code: number;
  /** The code's name; undefined for a code that is none of the known ones (from libdnn). */
  readonly name: HbSysStatusName | undefined;
  readonly message: string;
}

let lastFailure: HbSysFailure | null = null;

/** The detail of the most recent failing call, or `null` if none failed yet. */
export function hbSysGetLastError(): HbSysFailure | null {
  return lastFailure;
}

/**
 * Records a failure and returns its code, so that a backend can write
 * `return fail(HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem', 'why; what to do')`.
 * @internal
 */
export function fail(code: number, fn: string, message: string): number {
  lastFailure = { fn, code, name: NAMES.get(code), message };
  return code;
}

/** The error the idiomatic API throws: it carries the status code and its name. */
export class HbSysError extends Error {
  readonly code: number;
  /** The code's name; undefined for a code that is none of the known ones (from libdnn). */
  readonly status: HbSysStatusName | undefined;
  /** The message without the status name in front. */
  readonly detail: string;
  constructor(code: number, message: string) {
    const status = NAMES.get(code);
    super(`${status ?? `unknown status code ${code}`}: ${message}`);
    this.name = 'HbSysError';
    this.code = code;
    this.status = status;
    this.detail = message;
  }

  /** The error for a code just returned by one of the eight functions. @internal */
  static fromLastFailure(code: number, fn: string): HbSysError {
    const last = lastFailure;
    const detail = last !== null && last.code === code && last.fn === fn ? last.message : '';
    return new HbSysError(code, detail === '' ? `${fn} failed` : `${fn}: ${detail}`);
  }
}
