/**
 * Status codes of the vendor header (`dnn/hb_sys.h`), their descriptions, and the
 * error class of the idiomatic API.
 *
 * The C functions return a code and nothing else. So that a caller can still learn *why*
 * a call failed, every failure also records a detail message, readable with
 * {@link hbSysGetLastError} (errno-style: it is overwritten by the next failure only).
 */

/** The call succeeded. */
export const HB_SYS_SUCCESS = 0;
/** An argument was wrong: a bad size, flag or hbSysMem, or a handle that is not live. */
export const HB_SYS_INVALID_ARGUMENT = -6000129;
/** No room in the ION heap, or the per-process descriptor budget is spent. */
export const HB_SYS_OUT_OF_MEMORY = -6000130;
/** The range to register is unknown to the system or already registered. */
export const HB_SYS_REGISTER_MEM_FAILED = -6000131;

/**
 * The status code of a failure of one of the eight functions. A literal union, so that a
 * `switch` over it can be exhaustive.
 */
export type HbSysFailureCode =
  | typeof HB_SYS_INVALID_ARGUMENT
  | typeof HB_SYS_OUT_OF_MEMORY
  | typeof HB_SYS_REGISTER_MEM_FAILED;

/**
 * What the eight functions return: `HB_SYS_SUCCESS` or the code of a failure.
 *
 * @example
 * ```ts
 * switch (hbSysAllocMem(mem, size)) {
 *   case HB_SYS_SUCCESS: break;
 *   case HB_SYS_OUT_OF_MEMORY: return retryLater();
 *   case HB_SYS_INVALID_ARGUMENT:
 *   case HB_SYS_REGISTER_MEM_FAILED: throw new Error(hbSysGetLastError()?.message);
 * }
 * ```
 */
export type HbSysStatusCode = typeof HB_SYS_SUCCESS | HbSysFailureCode;

/** The names of the status codes, as in the vendor header. */
export type HbSysStatusName =
  | 'HB_SYS_SUCCESS'
  | 'HB_SYS_INVALID_ARGUMENT'
  | 'HB_SYS_OUT_OF_MEMORY'
  | 'HB_SYS_REGISTER_MEM_FAILED';

const NAMES: ReadonlyMap<number, HbSysStatusName> = new Map([
  [HB_SYS_SUCCESS, 'HB_SYS_SUCCESS'],
  [HB_SYS_INVALID_ARGUMENT, 'HB_SYS_INVALID_ARGUMENT'],
  [HB_SYS_OUT_OF_MEMORY, 'HB_SYS_OUT_OF_MEMORY'],
  [HB_SYS_REGISTER_MEM_FAILED, 'HB_SYS_REGISTER_MEM_FAILED'],
]);

const DESCRIPTIONS: ReadonlyMap<number, string> = new Map([
  [HB_SYS_SUCCESS, 'success'],
  [HB_SYS_INVALID_ARGUMENT, 'invalid argument'],
  [HB_SYS_OUT_OF_MEMORY, 'out of memory'],
  [HB_SYS_REGISTER_MEM_FAILED, 'register memory failed'],
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
  if (name === undefined) return `unknown status code ${String(code)}`;
  return `${name} (${code}): ${DESCRIPTIONS.get(code)}`;
}

/** What the last failing call said: its function, code and a message saying what to do. */
export interface HbSysFailure {
  /** The function that failed, by its C name (`hbSysAllocMem`, …). */
  readonly fn: string;
  /** The status code it returned. */
  readonly code: HbSysFailureCode;
  /** The name of that code (`HB_SYS_OUT_OF_MEMORY`, …). */
  readonly name: HbSysStatusName;
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
 * `return fail(HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem', 'why; what to do')`. A code that
 * hb_sys.h does not list (a vendor runtime may return one) becomes HB_SYS_INVALID_ARGUMENT,
 * the code's own value staying in the message, so that the eight functions return only the
 * codes their type names.
 * @internal
 */
export function fail(code: number, fn: string, message: string): HbSysFailureCode {
  const known = isFailureCode(code) ? code : HB_SYS_INVALID_ARGUMENT;
  lastFailure = { fn, code: known, name: NAMES.get(known)!, message };
  return known;
}

function isFailureCode(code: number): code is HbSysFailureCode {
  return code !== HB_SYS_SUCCESS && NAMES.has(code);
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
  /** The name of the status code (`HB_SYS_OUT_OF_MEMORY`, …). */
  readonly status: HbSysStatusName;
  /** The message without the status name in front. */
  readonly detail: string;
  /** An error with status `code` and a message that says what was wrong and what to do. */
  constructor(code: HbSysFailureCode, message: string) {
    const status = NAMES.get(code) ?? 'HB_SYS_INVALID_ARGUMENT';
    super(`${status}: ${message}`);
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
