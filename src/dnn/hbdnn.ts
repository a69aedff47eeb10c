/**
 * The functions of `dnn/hb_dnn.h`, with the C names, argument order and status codes, over
 * the current backend's model API.
 *
 * Each reads the caller's objects once (read.ts), checks what needs no model, calls the
 * backend, and writes its out-parameters last (out.ts): a failure changes nothing, and a
 * write that fails undoes the backend's work. None throws, whatever it is given; a failure
 * is a status code, and {@link hbDNNGetLastError} says what was wrong and what to do. The
 * one exception is the sanitizer in `throw` mode, whose purpose is to stop at the hazard.
 *
 * TypeScript conventions for C's pointers: `hbDNNTensorProperties *` is an object the call
 * fills; `hbDNNHandle_t *`, `int32_t *` and `const char ***` are objects whose `value` the
 * call sets ({@link hbDNNOut}); `hbDNNInfer`'s `hbDNNTensor **output` is the array itself.
 */

import { currentBackend } from '../backend.js';
import { describe } from '../describe.js';
import { HbSysError, hbSysGetErrorDesc, hbSysStatusName } from '../status.js';
import type { DnnBackend, TensorSnapshot } from './backend.js';
import { canSet, setAll } from './out.js';
import {
  ReadError,
  readArray,
  readInferCtrl,
  readResizeCtrl,
  readRoi,
  readTensor,
} from './read.js';
import {
  describeDnnStatus,
  dnnFail,
  HB_DNN_API_USE_ERROR,
  HB_DNN_INVALID_ARGUMENT,
  hbDNNGetLastError,
} from './status.js';
import type {
  hbDNNHandle_t,
  hbDNNInferCtrlParam,
  hbDNNOut,
  hbDNNResizeCtrlParam,
  hbDNNRoi,
  hbDNNTaskHandle_t,
  hbDNNTensor,
  hbDNNTensorProperties,
  hbPackedDNNHandle_t,
} from './types.js';

export { hbDNNGetLastError };

/** Most tensors one call takes (a guard against absurd arrays; models have a handful). */
const MAX_TENSORS = 4096;

/** Errors that must reach the caller even from a C-style function: the sanitizer's. */
const passThrough = new Set<string>(['HbSysSanitizerError']);

/** Runs `body` with the backend's model API; turns every throw into a status code. */
function guard(fn: string, body: (dnn: DnnBackend) => number): number {
  let dnn: DnnBackend;
  try {
    const backend = currentBackend();
    const made = backend.dnn?.();
    if (made === undefined) {
      return dnnFail(HB_DNN_API_USE_ERROR, fn, `the ${backend.name} backend has no model API`);
    }
    dnn = made;
  } catch (error) {
    // No backend, or one that cannot run models here: the message says why and what to do.
    if (error instanceof HbSysError) return dnnFail(HB_DNN_API_USE_ERROR, fn, error.detail);
    return dnnFail(HB_DNN_API_USE_ERROR, fn, (error as Error)?.message ?? String(error));
  }
  try {
    return body(dnn);
  } catch (error) {
    if (error instanceof Error && passThrough.has(error.name)) throw error;
    if (error instanceof ReadError) return dnnFail(HB_DNN_INVALID_ARGUMENT, fn, error.message);
    const why = error instanceof Error ? error.message : String(error);
    return dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `the arguments could not be used: ${why}`);
  }
}

function badOut(fn: string, name: string, x: unknown): number {
  return dnnFail(
    HB_DNN_INVALID_ARGUMENT,
    fn,
    `${name} must be an object whose value the call can set (for example {}), got ${describe(x)}`,
  );
}

function failedWrite(fn: string, name: string): number {
  return dnnFail(
    HB_DNN_INVALID_ARGUMENT,
    fn,
    `${name} could not be written (a setter or Proxy refused): pass a plain object`,
  );
}

/** Where an index of `fn` lies: below the count of inputs or of outputs. */
function indexRange(fn: string): string {
  return ` below hbDNNGet${fn.includes('Input') ? 'Input' : 'Output'}Count`;
}

function badIndex(fn: string, name: string, v: unknown, hint = ''): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff) {
    return undefined;
  }
  return dnnFail(
    HB_DNN_INVALID_ARGUMENT,
    fn,
    `${name} must be an int32${hint}, got ${describe(v)}`,
  );
}

/**
 * `hbDNNGetVersion()`: the libdnn version, for example `1.18.6_(3.15.25 HBRT)` on a board.
 * An empty string when the backend cannot run models (hbDNNGetLastError says why).
 */
export function hbDNNGetVersion(): string {
  let version = '';
  guard('hbDNNGetVersion', (dnn) => {
    version = dnn.getVersion();
    return 0;
  });
  return version;
}

/**
 * Loads the models of `modelFileNames[0 … modelFileCount)` and sets `packedDNNHandle.value`.
 * On the emulator, `x.onnx` is loaded, and for `x.bin` the `x.onnx` beside it.
 *
 * @example
 * ```ts
 * const packed: hbDNNOut<hbPackedDNNHandle_t> = {};
 * if (hbDNNInitializeFromFiles(packed, ['model.bin'], 1) !== 0) throw new Error(hbDNNGetLastError()!.message);
 * ```
 */
export function hbDNNInitializeFromFiles(
  packedDNNHandle: hbDNNOut<hbPackedDNNHandle_t>,
  modelFileNames: readonly string[],
  modelFileCount: number,
): number {
  const fn = 'hbDNNInitializeFromFiles';
  return guard(fn, (dnn) => {
    if (!canSet(packedDNNHandle, 'value')) return badOut(fn, 'packedDNNHandle', packedDNNHandle);
    if (!Array.isArray(modelFileNames)) {
      return dnnFail(
        HB_DNN_INVALID_ARGUMENT,
        fn,
        `modelFileNames must be an array of file names (['model.bin']), got ${describe(modelFileNames)}`,
      );
    }
    const names = readArray(modelFileNames, 'modelFileNames', MAX_TENSORS);
    if (
      typeof modelFileCount !== 'number' ||
      !Number.isInteger(modelFileCount) ||
      modelFileCount < 1 ||
      modelFileCount > names.length
    ) {
      return dnnFail(
        HB_DNN_INVALID_ARGUMENT,
        fn,
        `modelFileCount must be an integer in 1 … modelFileNames.length (${names.length}), got ${describe(modelFileCount)}`,
      );
    }
    const files = names.slice(0, modelFileCount);
    for (const [i, f] of files.entries()) {
      if (typeof f !== 'string' || f === '') {
        return dnnFail(
          HB_DNN_INVALID_ARGUMENT,
          fn,
          `modelFileNames[${i}] must be a non-empty path, got ${describe(f)}`,
        );
      }
    }
    const r = dnn.initializeFromFiles(files as string[]);
    if (r.code !== 0 || !('value' in r)) return r.code;
    if (!setAll([[packedDNNHandle, 'value', r.value]])) {
      if (dnn.discard !== undefined) dnn.discard(r.value);
      else dnn.release(r.value);
      return failedWrite(fn, 'packedDNNHandle.value');
    }
    return 0;
  });
}

/** Releases every model of a packed handle. Its tasks must be released first. */
export function hbDNNRelease(packedDNNHandle: hbPackedDNNHandle_t): number {
  return guard('hbDNNRelease', (dnn) => dnn.release(packedDNNHandle));
}

/** Sets `modelNameList.value` to the names of the pack's models and `modelNameCount.value`. */
export function hbDNNGetModelNameList(
  modelNameList: hbDNNOut<readonly string[]>,
  modelNameCount: hbDNNOut<number>,
  packedDNNHandle: hbPackedDNNHandle_t,
): number {
  const fn = 'hbDNNGetModelNameList';
  return guard(fn, (dnn) => {
    if (!canSet(modelNameList, 'value')) return badOut(fn, 'modelNameList', modelNameList);
    if (!canSet(modelNameCount, 'value')) return badOut(fn, 'modelNameCount', modelNameCount);
    const r = dnn.getModelNameList(packedDNNHandle);
    if (r.code !== 0 || !('value' in r)) return r.code;
    const names = Object.freeze([...r.value]);
    if (
      !setAll([
        [modelNameList, 'value', names],
        [modelNameCount, 'value', names.length],
      ])
    ) {
      return failedWrite(fn, 'modelNameList.value or modelNameCount.value');
    }
    return 0;
  });
}

/** Sets `dnnHandle.value` to the model named `modelName` of the pack. */
export function hbDNNGetModelHandle(
  dnnHandle: hbDNNOut<hbDNNHandle_t>,
  packedDNNHandle: hbPackedDNNHandle_t,
  modelName: string,
): number {
  const fn = 'hbDNNGetModelHandle';
  return guard(fn, (dnn) => {
    if (!canSet(dnnHandle, 'value')) return badOut(fn, 'dnnHandle', dnnHandle);
    if (typeof modelName !== 'string') {
      return dnnFail(
        HB_DNN_INVALID_ARGUMENT,
        fn,
        `modelName must be a string, got ${describe(modelName)}`,
      );
    }
    const r = dnn.getModelHandle(packedDNNHandle, modelName);
    return setValue(fn, 'dnnHandle', dnnHandle, r);
  });
}

function setValue<T>(
  fn: string,
  name: string,
  out: hbDNNOut<T>,
  r: { readonly code: number; readonly value?: T },
): number {
  if (r.code !== 0 || !('value' in r)) return r.code;
  return setAll([[out, 'value', r.value]]) ? 0 : failedWrite(fn, `${name}.value`);
}

function count(
  fn: string,
  name: string,
  out: hbDNNOut<number>,
  get: (dnn: DnnBackend) => { readonly code: number; readonly value?: number },
): number {
  return guard(fn, (dnn) => {
    if (!canSet(out, 'value')) return badOut(fn, name, out);
    return setValue(fn, name, out, get(dnn));
  });
}

/** Sets `inputCount.value` to the model's number of inputs. */
export function hbDNNGetInputCount(inputCount: hbDNNOut<number>, dnnHandle: hbDNNHandle_t): number {
  return count('hbDNNGetInputCount', 'inputCount', inputCount, (d) => d.getInputCount(dnnHandle));
}

/** Sets `outputCount.value` to the model's number of outputs. */
export function hbDNNGetOutputCount(
  outputCount: hbDNNOut<number>,
  dnnHandle: hbDNNHandle_t,
): number {
  return count('hbDNNGetOutputCount', 'outputCount', outputCount, (d) =>
    d.getOutputCount(dnnHandle),
  );
}

function name(
  fn: string,
  out: hbDNNOut<string>,
  index: number,
  get: (dnn: DnnBackend) => { readonly code: number; readonly value?: string },
): number {
  return guard(fn, (dnn) => {
    if (!canSet(out, 'value')) return badOut(fn, 'name', out);
    return badIndex(fn, 'the index', index, indexRange(fn)) ?? setValue(fn, 'name', out, get(dnn));
  });
}

/** Sets `name.value` to the name of input `inputIndex`. */
export function hbDNNGetInputName(
  name_: hbDNNOut<string>,
  dnnHandle: hbDNNHandle_t,
  inputIndex: number,
): number {
  return name('hbDNNGetInputName', name_, inputIndex, (d) => d.getInputName(dnnHandle, inputIndex));
}

/** Sets `name.value` to the name of output `outputIndex`. */
export function hbDNNGetOutputName(
  name_: hbDNNOut<string>,
  dnnHandle: hbDNNHandle_t,
  outputIndex: number,
): number {
  return name('hbDNNGetOutputName', name_, outputIndex, (d) =>
    d.getOutputName(dnnHandle, outputIndex),
  );
}

const PROPERTY_FIELDS = [
  'validShape',
  'alignedShape',
  'tensorLayout',
  'tensorType',
  'shift',
  'scale',
  'quantiType',
  'quantizeAxis',
  'alignedByteSize',
  'stride',
] as const;

function properties(
  fn: string,
  out: hbDNNTensorProperties,
  index: number,
  get: (dnn: DnnBackend) => { readonly code: number; readonly value?: hbDNNTensorProperties },
): number {
  return guard(fn, (dnn) => {
    if (!PROPERTY_FIELDS.every((k) => canSet(out, k))) {
      return dnnFail(
        HB_DNN_INVALID_ARGUMENT,
        fn,
        `properties must be an object the call can fill (for example {}), got ${describe(out)}`,
      );
    }
    const bad = badIndex(fn, 'the index', index, indexRange(fn));
    if (bad !== undefined) return bad;
    const r = get(dnn);
    if (r.code !== 0 || !('value' in r)) return r.code;
    const p = r.value!;
    if (!setAll(PROPERTY_FIELDS.map((k) => [out, k, p[k]] as const))) {
      return failedWrite(fn, 'properties');
    }
    return 0;
  });
}

/** Fills `properties` with those of input `inputIndex`; allocate `alignedByteSize` bytes. */
export function hbDNNGetInputTensorProperties(
  properties_: hbDNNTensorProperties,
  dnnHandle: hbDNNHandle_t,
  inputIndex: number,
): number {
  return properties('hbDNNGetInputTensorProperties', properties_, inputIndex, (d) =>
    d.getInputTensorProperties(dnnHandle, inputIndex),
  );
}

/** Fills `properties` with those of output `outputIndex`. */
export function hbDNNGetOutputTensorProperties(
  properties_: hbDNNTensorProperties,
  dnnHandle: hbDNNHandle_t,
  outputIndex: number,
): number {
  return properties('hbDNNGetOutputTensorProperties', properties_, outputIndex, (d) =>
    d.getOutputTensorProperties(dnnHandle, outputIndex),
  );
}

/** `task.value`, read once: null (or never set) for a new task, or the task to append to. */
function readTask(
  fn: string,
  task: unknown,
): { task: hbDNNTaskHandle_t | null } | { code: number } {
  if (!canSet(task, 'value')) return { code: badOut(fn, 'taskHandle', task) };
  let v: unknown;
  try {
    v = task.value;
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    return { code: dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `reading taskHandle.value threw: ${why}`) };
  }
  return { task: v === null || v === undefined ? null : (v as hbDNNTaskHandle_t) };
}

function readTensors(v: unknown, where: string): TensorSnapshot[] {
  return readArray(v, where, MAX_TENSORS).map((t, i) => readTensor(t, `${where}[${i}]`));
}

/**
 * Submits `dnnHandle` on `input` into `output` (arrays of the model's input and output
 * counts) and sets `taskHandle.value`; it returns at once. `taskHandle.value` must be null
 * on entry, except to append to a task whose last call had `inferCtrlParam.more = 1`:
 * nothing runs until the call with `more = 0`. CLEAN cached inputs before; wait with
 * hbDNNWaitTaskDone and INVALIDATE cached outputs before reading them.
 */
export function hbDNNInfer(
  taskHandle: hbDNNOut<hbDNNTaskHandle_t | null>,
  output: readonly hbDNNTensor[],
  input: readonly hbDNNTensor[],
  dnnHandle: hbDNNHandle_t,
  inferCtrlParam: hbDNNInferCtrlParam,
): number {
  const fn = 'hbDNNInfer';
  return guard(fn, (dnn) => {
    const read = readTask(fn, taskHandle);
    if ('code' in read) return read.code;
    const task = read.task;
    const outputs = readTensors(output, 'output');
    const inputs = readTensors(input, 'input');
    const ctrl = readInferCtrl(inferCtrlParam, 'inferCtrlParam');
    const r = dnn.infer(task, outputs, inputs, dnnHandle, ctrl);
    if (r.code !== 0 || !('value' in r)) return r.code;
    if (r.value === task) return 0; // appended: the handle is the one the caller holds
    if (!setAll([[taskHandle, 'value', r.value]])) {
      if (dnn.discard !== undefined) dnn.discard(r.value);
      else dnn.releaseTask(r.value);
      return failedWrite(fn, 'taskHandle.value');
    }
    return 0;
  });
}

/**
 * Blocks the calling thread until the task completes, or `timeout` milliseconds pass
 * (`<= 0`: until it completes); the BPU goes on without this thread's event loop. Returns
 * 0, HB_DNN_TIMEOUT (the task goes on), or the task's failure.
 */
export function hbDNNWaitTaskDone(taskHandle: hbDNNTaskHandle_t, timeout: number): number {
  const fn = 'hbDNNWaitTaskDone';
  return guard(fn, (dnn) => {
    const bad = badIndex(
      fn,
      'timeout (milliseconds)',
      timeout,
      ' (0 or less waits until the task is done)',
    );
    return bad ?? dnn.waitTaskDone(taskHandle, timeout);
  });
}

/**
 * The promise twin of hbDNNWaitTaskDone, for code that must not block: resolves with 0 or
 * the task's failure code when it completes, and counts as the wait. Never rejects.
 */
export function hbDNNWaitTaskDoneAsync(taskHandle: hbDNNTaskHandle_t): Promise<number> {
  let promise: Promise<number> = Promise.resolve(0);
  const code = guard('hbDNNWaitTaskDone', (dnn) => {
    promise = dnn.taskDone(taskHandle);
    return 0;
  });
  return code === 0 ? promise.catch(() => HB_DNN_INVALID_ARGUMENT) : Promise.resolve(code);
}

/** Ends a task (cancelling it if it has not run). It does not free the tensors. */
export function hbDNNReleaseTask(taskHandle: hbDNNTaskHandle_t): number {
  return guard('hbDNNReleaseTask', (dnn) => dnn.releaseTask(taskHandle));
}

/**
 * Resizes `roi` (inclusive; null for the whole image) of `input` into `output`, bilinear,
 * as a task (libdnn up to 1.18; fails where the library has no resize). `taskHandle.value`
 * must be null on entry.
 */
export function hbDNNResize(
  taskHandle: hbDNNOut<hbDNNTaskHandle_t | null>,
  output: hbDNNTensor,
  input: hbDNNTensor,
  roi: hbDNNRoi | null,
  resizeCtrlParam: hbDNNResizeCtrlParam,
): number {
  const fn = 'hbDNNResize';
  return guard(fn, (dnn) => {
    const resize = dnn.resize;
    if (resize === undefined) {
      return dnnFail(
        HB_DNN_API_USE_ERROR,
        fn,
        `this libdnn (${dnn.getVersion()}) has no hbDNNResize (removed in 1.22): resize with a ` +
          'model (hbDNNRoiInfer on the board) or on the CPU',
      );
    }
    const read = readTask(fn, taskHandle);
    if ('code' in read) return read.code;
    if (read.task !== null) {
      return dnnFail(
        HB_DNN_API_USE_ERROR,
        fn,
        'taskHandle.value must be null on entry (resize tasks are not batched): set it to null',
      );
    }
    const out = readTensor(output, 'output');
    const inp = readTensor(input, 'input');
    const r = readRoi(roi, 'roi');
    const ctrl = readResizeCtrl(resizeCtrlParam, 'resizeCtrlParam');
    const result = resize(out, inp, r, ctrl);
    if (result.code !== 0 || !('value' in result)) return result.code;
    if (!setAll([[taskHandle, 'value', result.value]])) {
      if (dnn.discard !== undefined) dnn.discard(result.value);
      else dnn.releaseTask(result.value);
      return failedWrite(fn, 'taskHandle.value');
    }
    return 0;
  });
}

/**
 * A description of a status code: the library's own where it has one, else hbsys's (hbDNN
 * and hbSys codes alike). Works with any backend, and without one.
 */
export function hbDNNGetErrorDesc(errorCode: number): string {
  try {
    const own = currentBackend().dnn?.().libraryErrorDesc?.(errorCode);
    if (typeof own === 'string' && own !== '') return own;
  } catch {
    // No backend or no model API: hbsys's own description below.
  }
  const desc = describeDnnStatus(errorCode);
  if (desc !== undefined) return desc;
  if (typeof errorCode === 'number' && hbSysStatusName(errorCode) !== undefined) {
    return hbSysGetErrorDesc(errorCode);
  }
  return `unknown status code ${String(errorCode)}`;
}
