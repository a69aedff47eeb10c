/**
 * The status codes of `dnn/hb_dnn_status.h`, their descriptions, and the last failure.
 *
 * As with the hbSys functions, a C-style hbDNN function returns a code and nothing else;
 * every failure also records a message that says what was wrong and what to do, readable
 * with {@link hbDNNGetLastError} (errno-style: overwritten by the next failure only).
 */

export const HB_DNN_SUCCESS = 0;
export const HB_DNN_INVALID_ARGUMENT = -6000001;
export const HB_DNN_INVALID_MODEL = -6000002;
export const HB_DNN_MODEL_NUMBER_EXCEED_LIMIT = -6000003;
export const HB_DNN_INVALID_PACKED_DNN_HANDLE = -6000004;
export const HB_DNN_INVALID_DNN_HANDLE = -6000005;
export const HB_DNN_CAN_NOT_OPEN_FILE = -6000006;
export const HB_DNN_OUT_OF_MEMORY = -6000007;
export const HB_DNN_TIMEOUT = -6000008;
export const HB_DNN_TASK_NUM_EXCEED_LIMIT = -6000009;
export const HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT = -6000010;
export const HB_DNN_INVALID_TASK_HANDLE = -6000011;
export const HB_DNN_RUN_TASK_FAILED = -6000012;
export const HB_DNN_MODEL_IS_RUNNING = -6000013;
export const HB_DNN_INCOMPATIBLE_MODEL = -6000014;
export const HB_DNN_API_USE_ERROR = -6000015;
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
  readonly fn: string;
  readonly code: number;
  readonly name: HbDNNStatusName | undefined;
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
