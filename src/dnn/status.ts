/**
 * The status codes of `dnn/hb_dnn_status.h`, their descriptions, and the last failure.
 *
 * As with the hbSys functions, a C-style hbDNN function returns a code and nothing else;
 * every failure also records a message that says what was wrong and what to do, readable
 * with {@link hbDNNGetLastError} (errno-style: overwritten by the next failure only).
 */

/** The call succeeded. */
export const HB_DNN_SUCCESS = 0;
/** An argument was wrong: a count, index, tensor, control parameter or out-parameter. */
export const HB_DNN_INVALID_ARGUMENT = -6000001;
/** The model file could not be read as a model (not ONNX, or a config that does not match it). */
export const HB_DNN_INVALID_MODEL = -6000002;
/** Too many models in one packed handle. */
export const HB_DNN_MODEL_NUMBER_EXCEED_LIMIT = -6000003;
/** Not a live packed handle from hbDNNInitializeFromFiles (forged, copied or released). */
export const HB_DNN_INVALID_PACKED_DNN_HANDLE = -6000004;
/** Not a live model handle from hbDNNGetModelHandle. */
export const HB_DNN_INVALID_DNN_HANDLE = -6000005;
/** A model file is missing or unreadable. */
export const HB_DNN_CAN_NOT_OPEN_FILE = -6000006;
/** No memory for the model or the task. */
export const HB_DNN_OUT_OF_MEMORY = -6000007;
/** hbDNNWaitTaskDone timed out; the task goes on, wait again or release it. */
export const HB_DNN_TIMEOUT = -6000008;
/** Too many live tasks (32 on the board): wait for and release some first. */
export const HB_DNN_TASK_NUM_EXCEED_LIMIT = -6000009;
/** Too many models batched into one task with `more` (at most 255). */
export const HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT = -6000010;
/** Not a live task handle (forged, copied or already released). */
export const HB_DNN_INVALID_TASK_HANDLE = -6000011;
/** The task failed while running on the BPU. */
export const HB_DNN_RUN_TASK_FAILED = -6000012;
/** The model still has live tasks: wait for and release them before hbDNNRelease. */
export const HB_DNN_MODEL_IS_RUNNING = -6000013;
/** The model was compiled for another BPU or runtime. */
export const HB_DNN_INCOMPATIBLE_MODEL = -6000014;
/** The API was used in a way this runtime does not support (for example hbDNNResize where libdnn has none). */
export const HB_DNN_API_USE_ERROR = -6000015;
/** Multi-process use error (libdnn 1.9.7 and later; its trigger is undocumented). */
export const HB_DNN_MULTI_PROGRESS_USE_ERROR = -6000016;

/** The names of the status codes, as in the vendor header. */
export type HbDNNStatusName =
  | 'HB_DNN_SUCCESS'
  | 'HB_DNN_INVALID_ARGUMENT'
  | 'HB_DNN_INVALID_MODEL'
  | 'HB_DNN_MODEL_NUMBER_EXCEED_LIMIT'
  | 'HB_DNN_INVALID_PACKED_DNN_HANDLE'
  | 'HB_DNN_INVALID_DNN_HANDLE'
  | 'HB_DNN_CAN_NOT_OPEN_FILE'
  | 'HB_DNN_OUT_OF_MEMORY'
  | 'HB_DNN_TIMEOUT'
  | 'HB_DNN_TASK_NUM_EXCEED_LIMIT'
  | 'HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT'
  | 'HB_DNN_INVALID_TASK_HANDLE'
  | 'HB_DNN_RUN_TASK_FAILED'
  | 'HB_DNN_MODEL_IS_RUNNING'
  | 'HB_DNN_INCOMPATIBLE_MODEL'
  | 'HB_DNN_API_USE_ERROR'
  | 'HB_DNN_MULTI_PROGRESS_USE_ERROR';

const TABLE: ReadonlyArray<readonly [number, HbDNNStatusName, string]> = [
  [HB_DNN_SUCCESS, 'HB_DNN_SUCCESS', 'success'],
  [HB_DNN_INVALID_ARGUMENT, 'HB_DNN_INVALID_ARGUMENT', 'invalid argument'],
  [HB_DNN_INVALID_MODEL, 'HB_DNN_INVALID_MODEL', 'invalid model'],
  [
    HB_DNN_MODEL_NUMBER_EXCEED_LIMIT,
    'HB_DNN_MODEL_NUMBER_EXCEED_LIMIT',
    'too many models in one pack',
  ],
  [HB_DNN_INVALID_PACKED_DNN_HANDLE, 'HB_DNN_INVALID_PACKED_DNN_HANDLE', 'invalid packed handle'],
  [HB_DNN_INVALID_DNN_HANDLE, 'HB_DNN_INVALID_DNN_HANDLE', 'invalid model handle'],
  [HB_DNN_CAN_NOT_OPEN_FILE, 'HB_DNN_CAN_NOT_OPEN_FILE', 'cannot open file'],
  [HB_DNN_OUT_OF_MEMORY, 'HB_DNN_OUT_OF_MEMORY', 'out of memory'],
  [HB_DNN_TIMEOUT, 'HB_DNN_TIMEOUT', 'timed out'],
  [HB_DNN_TASK_NUM_EXCEED_LIMIT, 'HB_DNN_TASK_NUM_EXCEED_LIMIT', 'too many live tasks'],
  [
    HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
    'HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT',
    'too many models batched in one task',
  ],
  [HB_DNN_INVALID_TASK_HANDLE, 'HB_DNN_INVALID_TASK_HANDLE', 'invalid task handle'],
  [HB_DNN_RUN_TASK_FAILED, 'HB_DNN_RUN_TASK_FAILED', 'the task failed to run'],
  [HB_DNN_MODEL_IS_RUNNING, 'HB_DNN_MODEL_IS_RUNNING', 'the model is running'],
  [HB_DNN_INCOMPATIBLE_MODEL, 'HB_DNN_INCOMPATIBLE_MODEL', 'incompatible model'],
  [HB_DNN_API_USE_ERROR, 'HB_DNN_API_USE_ERROR', 'API used wrongly'],
  [HB_DNN_MULTI_PROGRESS_USE_ERROR, 'HB_DNN_MULTI_PROGRESS_USE_ERROR', 'multi-process use error'],
];

const NAMES: ReadonlyMap<number, HbDNNStatusName> = new Map(TABLE.map(([c, n]) => [c, n]));
const DESCRIPTIONS: ReadonlyMap<number, string> = new Map(TABLE.map(([c, , d]) => [c, d]));

/** The name of an hbDNN status code, or `undefined` for a number that is not one. */
export function hbDNNStatusName(code: number): HbDNNStatusName | undefined {
  return NAMES.get(code);
}

/** hbsys's own description of an hbDNN code (the native backend may prefer libdnn's). */
export function describeDnnStatus(code: number): string | undefined {
  const name = NAMES.get(code);
  return name === undefined ? undefined : `${name} (${code}): ${DESCRIPTIONS.get(code)}`;
}

/** What the last failing hbDNN call said: its function, code and what to do. */
export interface HbDNNFailure {
  /** The function that failed, for example `hbDNNInfer`. */
  readonly fn: string;
  /** The status code it returned. */
  readonly code: number;
  /** The code's name, or `undefined` for a code the header does not list (from libdnn). */
  readonly name: HbDNNStatusName | undefined;
  /** What was wrong and what to do. */
  readonly message: string;
}

let lastFailure: HbDNNFailure | null = null;

/** The detail of the most recent failing hbDNN call, or `null` if none failed yet. */
export function hbDNNGetLastError(): HbDNNFailure | null {
  return lastFailure;
}

/**
 * Records a failure and returns its code: `return dnnFail(HB_DNN_INVALID_ARGUMENT, fn, why)`.
 * @internal
 */
export function dnnFail(code: number, fn: string, message: string): number {
  lastFailure = { fn, code, name: NAMES.get(code), message };
  return code;
}
