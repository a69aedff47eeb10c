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

/** The code of a failure that the header lists. */
export type HbSysKnownFailure =
  | typeof HB_SYS_INVALID_ARGUMENT
  | typeof HB_SYS_OUT_OF_MEMORY
  | typeof HB_SYS_REGISTER_MEM_FAILED
  | typeof HBSYS_BACKEND_UNAVAILABLE;

/**
 * A failure code that no header lists: on the board, libdnn may return a code of its own,
 * and hbsys passes it on unchanged, as C would. Branded, so that no literal is taken for
 * one: a `switch` that has a case for each listed code leaves exactly this type to its
 * `default`.
 */
export type HbSysUnknownStatus = number & {
  /** The brand: only a status that hbsys passes on has this type. */
  readonly __hbSysUnknownStatus: never;
};

/** The code of a failure: one the header lists, or a vendor runtime's own. */
export type HbSysFailureCode = HbSysKnownFailure | HbSysUnknownStatus;

/**
 * What the eight functions return: `HB_SYS_SUCCESS` or the code of a failure. A union of
 * the header's codes (and {@link HbSysUnknownStatus}), so that a `switch` over it is
 * checked for a case per code.
 *
 * @example
 * ```ts
 * const code = hbSysAllocMem(mem, size);
 * switch (code) {
 *   case HB_SYS_SUCCESS: break;
 *   case HB_SYS_OUT_OF_MEMORY: return retryLater();
 *   case HB_SYS_INVALID_ARGUMENT:
 *   case HB_SYS_REGISTER_MEM_FAILED: throw new Error(hbSysGetLastError()?.message);
 *   default: {
 *     const vendorCode: HbSysUnknownStatus = code;   // compiles only if every case is there
 *     throw new Error(`libdnn returned ${vendorCode}`);
 *   }
 * }
 * ```
 */
export type HbSysStatusCode = typeof HB_SYS_SUCCESS | HbSysFailureCode;

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
  /** The function that failed, by its C name (`hbSysAllocMem`, …). */
  readonly fn: string;
  /** The status code it returned. */
  readonly code: HbSysFailureCode;
  /** The code's name; undefined for a code that is none of the known ones (from libdnn). */
  readonly name: HbSysStatusName | undefined;
  /** What was wrong and what to do. */
  readonly message: string;
}

let lastFailure: HbSysFailure | null = null;

/**
 * The detail of the most recent failing call, or `null` if none failed yet.
 *
 * @example
 * ```ts
 * if (hbSysAllocMem(mem, 0) !== HB_SYS_SUCCESS) {
 *   const { fn, name, message } = hbSysGetLastError()!;
 *   console.error(`${fn}: ${name}: ${message}`);   // hbSysAllocMem: HB_SYS_INVALID_ARGUMENT: size must be …
 * }
 * ```
 */
export function hbSysGetLastError(): HbSysFailure | null {
  return lastFailure;
}

/**
 * Records a failure and returns its code, so that a backend can write
 * `return fail(HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem', 'why; what to do')`.
 * @internal
 */
export function fail(code: number, fn: string, message: string): HbSysFailureCode {
  const failure = asFailureCode(code);
  lastFailure = { fn, code: failure, name: NAMES.get(code), message };
  return failure;
}

const KNOWN_FAILURES: ReadonlySet<number> = new Set<HbSysKnownFailure>([
  HBSYS_BACKEND_UNAVAILABLE,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
]);

/** `code`, typed as what it is: a listed failure code, or a code no header lists. */
function asFailureCode(code: number): HbSysFailureCode {
  return KNOWN_FAILURES.has(code) ? (code as HbSysKnownFailure) : (code as HbSysUnknownStatus);
}

/**
 * The error the idiomatic API throws: it carries the status code and its name.
 *
 * @example
 * ```ts
 * try {
 *   allocate(1 << 30);
 * } catch (error) {
 *   if (error instanceof HbSysError && error.code === HB_SYS_OUT_OF_MEMORY) console.log(error.detail);
 *   else throw error;
 * }
 * ```
 */
export class HbSysError extends Error {
  /** The status code, as the C-style function would have returned it. */
  readonly code: HbSysFailureCode;
  /** The code's name; undefined for a code that is none of the known ones (from libdnn). */
  readonly status: HbSysStatusName | undefined;
  /** The message without the status name in front. */
  readonly detail: string;
  /** An error with status `code` and a message that says what was wrong and what to do. */
  constructor(code: HbSysFailureCode, message: string) {
    const status = NAMES.get(code);
    super(`${status ?? `unknown status code ${code}`}: ${message}`);
    this.name = 'HbSysError';
    this.code = code;
    this.status = status;
    this.detail = message;
  }

  /** The error for a code just returned by one of the eight functions. @internal */
  static fromLastFailure(code: HbSysFailureCode, fn: string): HbSysError {
    const last = lastFailure;
    const detail = last !== null && last.code === code && last.fn === fn ? last.message : '';
    return new HbSysError(code, detail === '' ? `${fn} failed` : `${fn}: ${detail}`);
  }
}
