/**
 * A model as an object: load, names, inputs and outputs with their properties, and
 * `await model.infer(inputs, outputs)` that does what the C sequence does around
 * hbDNNInfer: CLEAN the cached inputs, submit, wait (without blocking the event loop),
 * release the task, INVALIDATE the cached outputs.
 *
 * @example
 * ```ts
 * using model = loadModel('det.bin');     // on the emulator: det.onnx (+ det.yaml) beside it
 * using input = allocateTensor(model.inputs[0].properties, { label: 'image' });
 * using output = allocateTensor(model.outputs[0].properties, { label: 'scores' });
 * input.write(frame);
 * await model.infer([input], [output]);
 * const scores = output.read();
 * ```
 */

import { describe } from '../describe.js';
import {
  hbDNNGetInputCount,
  hbDNNGetInputName,
  hbDNNGetInputTensorProperties,
  hbDNNGetModelHandle,
  hbDNNGetModelNameList,
  hbDNNGetOutputCount,
  hbDNNGetOutputName,
  hbDNNGetOutputTensorProperties,
  hbDNNInfer,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  hbDNNReleaseTask,
  hbDNNWaitTaskDoneAsync,
} from '../dnn/hbdnn.js';
import { HB_DNN_INVALID_ARGUMENT, HB_DNN_INVALID_DNN_HANDLE } from '../dnn/status.js';
import {
  HB_DNN_INITIALIZE_INFER_CTRL_PARAM,
  type hbDNNHandle_t,
  type hbDNNInferCtrlParam,
  type hbDNNTaskHandle_t,
  type hbDNNTensorProperties,
  type hbPackedDNNHandle_t,
} from '../dnn/types.js';
import { check, HbDNNError } from './error.js';
import { allocateTensor, DnnTensor, type TensorOptions } from './tensor.js';

/** One input or output of a model. */
export interface TensorInfo {
  /** Its index in the model's inputs or outputs. */
  readonly index: number;
  /** Its name in the model. */
  readonly name: string;
  /** A fresh copy of the properties at each read: the caller may change it freely. */
  readonly properties: hbDNNTensorProperties;
}

/** Options of {@link Model.infer}. */
export interface InferOptions {
  /** hbDNNInferCtrlParam.priority, 0 … 255 (default 0). */
  priority?: number;
  /** hbDNNInferCtrlParam.bpuCoreId (default HB_BPU_CORE_ANY). */
  bpuCoreId?: number;
}

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** The model to use when the file holds several (default: the first). */
  name?: string;
}

const bad = (message: string) => new HbDNNError(HB_DNN_INVALID_ARGUMENT, message);

/** A loaded model (hbDNNInitializeFromFiles + hbDNNGetModelHandle). */
export class Model implements Disposable {
  /** The model's name, as hbDNNGetModelNameList gives it. */
  readonly name: string;
  /** The file it was loaded from. */
  readonly file: string;
  /** The model's inputs, in order. */
  readonly inputs: readonly TensorInfo[];
  /** The model's outputs, in order. */
  readonly outputs: readonly TensorInfo[];
  /** For the C-style calls. */
  readonly handle: hbDNNHandle_t;
  /** The packed handle this model was loaded into, for the C-style calls. */
  readonly packed: hbPackedDNNHandle_t;
  #released = false;
  #running = 0;

  /** @internal Use {@link loadModel}. */
  constructor(file: string, packed: hbPackedDNNHandle_t, name: string, handle: hbDNNHandle_t) {
    this.file = file;
    this.packed = packed;
    this.name = name;
    this.handle = handle;
    this.inputs = infos(handle, 'input');
    this.outputs = infos(handle, 'output');
  }

  /** Loads `file` (`x.bin`, or on the emulator `x.onnx`). Same as {@link loadModel}. */
  static load(file: string, options?: LoadOptions): Model {
    return loadModel(file, options);
  }

  /** Whether {@link Model.release} (or `using`) has released the model. */
  get released(): boolean {
    return this.#released;
  }

  /** Tasks submitted by infer() and not yet complete. */
  get running(): number {
    return this.#running;
  }

  /** A tensor for each input, allocated by its properties. */
  allocateInputs(options?: TensorOptions): DnnTensor[] {
    return allocateAll(this.inputs, options);
  }

  /** A tensor for each output, allocated by its properties. */
  allocateOutputs(options?: TensorOptions): DnnTensor[] {
    return allocateAll(this.outputs, options);
  }

  /**
   * Runs the model: CLEANs the cached input buffers, submits the task, waits for it without
   * blocking the event loop, releases it, and INVALIDATEs the cached output buffers. Resolves
   * with `outputs`. Throws (rejects with) HbDNNError carrying the hbDNN code.
   */
  async infer(
    inputs: readonly DnnTensor[],
    outputs: readonly DnnTensor[],
    options: InferOptions = {},
  ): Promise<readonly DnnTensor[]> {
    if (this.#released) {
      throw new HbDNNError(
        HB_DNN_INVALID_DNN_HANDLE,
        `infer: model '${this.name}' was released; load it again`,
      );
    }
    const ins = tensorList(inputs, 'inputs', this.inputs.length, this.name);
    const outs = tensorList(outputs, 'outputs', this.outputs.length, this.name);
    const ctrl = {} as hbDNNInferCtrlParam;
    HB_DNN_INITIALIZE_INFER_CTRL_PARAM(ctrl);
    if (typeof options !== 'object' || options === null) {
      throw bad(`infer: options must be an object, got ${describe(options)}`);
    }
    if (options.priority !== undefined) ctrl.priority = options.priority;
    if (options.bpuCoreId !== undefined) ctrl.bpuCoreId = options.bpuCoreId;
    for (const t of ins) t.clean();
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    check(
      hbDNNInfer(
        task,
        outs.map((t) => t.tensor),
        ins.map((t) => t.tensor),
        this.handle,
        ctrl,
      ),
      'hbDNNInfer',
    );
    this.#running++;
    let code: number;
    try {
      code = await hbDNNWaitTaskDoneAsync(task.value!);
    } finally {
      this.#running--;
      // Released whatever the outcome: a task is never left behind.
      hbDNNReleaseTask(task.value!);
    }
    check(code, 'hbDNNWaitTaskDone');
    for (const t of outs) t.invalidate();
    return outs;
  }

  /** hbDNNRelease. Throws while an infer() of it has not completed. A second call throws. */
  release(): void {
    if (this.#released) {
      throw new HbDNNError(HB_DNN_INVALID_DNN_HANDLE, `release: model '${this.name}' was released`);
    }
    check(hbDNNRelease(this.packed), 'hbDNNRelease');
    this.#released = true;
  }

  /** Releases the model at the end of a `using` block; nothing if it is released already. */
  [Symbol.dispose](): void {
    if (!this.#released) this.release();
  }
}

/**
 * Loads the model in `file`. On the board `file` is the compiled `x.bin`; on the emulator
 * `x.onnx`, or `x.bin` with `x.onnx` (and its conversion config `x.yaml`) beside it.
 * Throws HbDNNError (CAN_NOT_OPEN_FILE, INVALID_MODEL, …) whose message says what to do.
 */
export function loadModel(file: string, options: LoadOptions = {}): Model {
  if (typeof file !== 'string' || file === '') {
    throw bad(`loadModel: file must be a non-empty path, got ${describe(file)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw bad(`loadModel: options must be an object, got ${describe(options)}`);
  }
  const wanted = options.name;
  const packed: { value?: hbPackedDNNHandle_t } = {};
  check(hbDNNInitializeFromFiles(packed, [file], 1), 'hbDNNInitializeFromFiles');
  try {
    const names: { value?: readonly string[] } = {};
    const count: { value?: number } = {};
    check(hbDNNGetModelNameList(names, count, packed.value!), 'hbDNNGetModelNameList');
    const name = wanted ?? names.value![0]!;
    const handle: { value?: hbDNNHandle_t } = {};
    check(hbDNNGetModelHandle(handle, packed.value!, name), 'hbDNNGetModelHandle');
    return new Model(file, packed.value!, name, handle.value!);
  } catch (error) {
    hbDNNRelease(packed.value!);
    throw error;
  }
}

function infos(handle: hbDNNHandle_t, kind: 'input' | 'output'): TensorInfo[] {
  const n: { value?: number } = {};
  const getCount = kind === 'input' ? hbDNNGetInputCount : hbDNNGetOutputCount;
  const getName = kind === 'input' ? hbDNNGetInputName : hbDNNGetOutputName;
  const getProps =
    kind === 'input' ? hbDNNGetInputTensorProperties : hbDNNGetOutputTensorProperties;
  const fn = kind === 'input' ? 'Input' : 'Output';
  check(getCount(n, handle), `hbDNNGet${fn}Count`);
  return Array.from({ length: n.value! }, (_, index) => {
    const name: { value?: string } = {};
    check(getName(name, handle, index), `hbDNNGet${fn}Name`);
    const first = {} as hbDNNTensorProperties;
    check(getProps(first, handle, index), `hbDNNGet${fn}TensorProperties`);
    return Object.freeze({
      index,
      name: name.value!,
      get properties(): hbDNNTensorProperties {
        return structuredClone(first);
      },
    });
  });
}

function allocateAll(list: readonly TensorInfo[], options?: TensorOptions): DnnTensor[] {
  const made: DnnTensor[] = [];
  try {
    for (const info of list) {
      made.push(
        allocateTensor(info.properties, {
          ...options,
          label: options?.label ?? info.name,
        }),
      );
    }
  } catch (error) {
    for (const t of made) t.free();
    throw error;
  }
  return made;
}

function tensorList(v: unknown, what: string, count: number, model: string): DnnTensor[] {
  if (!Array.isArray(v)) {
    throw bad(`infer: ${what} must be an array of tensors (allocateTensor), got ${describe(v)}`);
  }
  const list = [...v];
  if (list.length !== count) {
    throw bad(`infer: model '${model}' takes ${count} ${what}, got ${list.length}`);
  }
  for (const [i, t] of list.entries()) {
    if (!(t instanceof DnnTensor)) {
      throw bad(
        `infer: ${what}[${i}] must be a tensor made by allocateTensor or wrapTensor, got ${describe(t)}`,
      );
    }
    if (t.freed) throw bad(`infer: ${what}[${i}] was freed; allocate it again`);
  }
  return list;
}
