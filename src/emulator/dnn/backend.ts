/**
 * The emulator's `hb_dnn.h`: models are the user's ONNX files (model-file.ts), run by the
 * ONNX runtime in the BPU worker (device.ts) as BPU jobs that read their inputs from, and
 * write their outputs to, physical memory. Tasks are those jobs, seen through the sanitizer
 * as in flight until the program waits for them (tasks.ts).
 *
 * Handles belong to the machine they were made on: after `emulator.reset()` the old ones
 * are refused (the BPU that held their models is gone).
 */

import type {
  DnnBackend,
  DnnResult,
  InferCtrlSnapshot,
  ResizeCtrlSnapshot,
  TensorSnapshot,
} from '../../dnn/backend.js';
import {
  dnnFail,
  HB_DNN_API_USE_ERROR,
  HB_DNN_CAN_NOT_OPEN_FILE,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_MODEL,
  HB_DNN_INVALID_PACKED_DNN_HANDLE,
  HB_DNN_MODEL_IS_RUNNING,
} from '../../dnn/status.js';
import type {
  hbDNNHandle_t,
  hbDNNRoi,
  hbDNNTaskHandle_t,
  hbDNNTensorProperties,
  hbPackedDNNHandle_t,
} from '../../dnn/types.js';
import { MESSAGE_JOB } from '../bpu-queue.js';
import type { Machine } from '../machine.js';
import { HandleTable } from './handles.js';
import { dnnMachine } from './machine-adapter.js';
import {
  LOAD_REPLY_BYTES,
  type LoadInput,
  type LoadMessage,
  readLoadReply,
  type UnloadMessage,
} from './messages.js';
import {
  loadModelFile,
  ModelFileError,
  type ModelInterface,
  resolveOutputs,
} from './model-file.js';
import { ortMissing } from './onnx-runtime.js';
import type { InputInterface } from './properties.js';
import { planResize } from './resize.js';
import { type ModelRecord, Tasks } from './tasks.js';
import { rowStride } from './tensors.js';

/** The libdnn version the emulator answers to: the X3's, which still has hbDNNResize. */
export const EMULATED_LIBDNN_VERSION = '1.18.6';

interface PackRecord {
  readonly machine: Machine;
  readonly models: ModelRecord[];
  released: boolean;
}

/**
 * Runs `fn` under the board's lock: hbDNN calls read and change the machine's shared state
 * (the slot table through the tensor checks, the cache planes through the sanitizer, the
 * held and in-flight tables, the BPU's ring). Waits for the BPU happen outside it.
 */
function locked<T>(fn: () => T): T {
  return dnnMachine().machine.board.locked(fn);
}

/** Said of a handle no table of this thread made: it may have come from another thread. */
const OTHER_THREAD =
  '; a handle made in another thread is not one here (packs, models and tasks stay in the ' +
  'thread that made them: load the model in this thread with hbDNNInitializeFromFiles)';

/** The emulator's DnnBackend (one per process; its records know their machine). */
export function createEmulatorDnn(): DnnBackend {
  const packs = new HandleTable<hbPackedDNNHandle_t, PackRecord>('hbPackedDNNHandle_t');
  const models = new HandleTable<hbDNNHandle_t, ModelRecord>('hbDNNHandle_t');
  const tasks = new Tasks();

  function pack(fn: string, handle: hbPackedDNNHandle_t): PackRecord | number {
    const p = packs.get(handle);
    const why =
      p === undefined
        ? `is not a handle that hbDNNInitializeFromFiles made (pass packed.value)${OTHER_THREAD}`
        : p.machine !== dnnMachine().machine
          ? 'was made before emulator.reset(); load the models again'
          : p.released
            ? 'was released with hbDNNRelease'
            : undefined;
    return why === undefined
      ? p!
      : dnnFail(HB_DNN_INVALID_PACKED_DNN_HANDLE, fn, `the packed handle ${why}`);
  }

  function model(fn: string, handle: hbDNNHandle_t): ModelRecord | number {
    const m = models.get(handle);
    const why =
      m === undefined
        ? `is not a handle that hbDNNGetModelHandle made (pass dnnHandle.value)${OTHER_THREAD}`
        : m.machine !== dnnMachine().machine
          ? 'was made before emulator.reset(); load the models again'
          : m.released
            ? 'belongs to models released with hbDNNRelease'
            : undefined;
    return why === undefined
      ? m!
      : dnnFail(HB_DNN_INVALID_DNN_HANDLE, fn, `the model handle ${why}`);
  }

  function index(fn: string, m: ModelRecord, i: number, kind: 'input' | 'output'): number {
    const n = kind === 'input' ? m.iface.inputs.length : m.iface.outputs.length;
    if (i >= 0 && i < n) return i;
    return dnnFail(
      HB_DNN_INVALID_ARGUMENT,
      fn,
      `${kind}Index ${i} is out of range: model '${m.iface.name}' has ${n} ${kind}(s), 0 … ${n - 1}`,
    );
  }

  function unload(machine: Machine, ids: readonly number[]): void {
    if (ids.length === 0 || machine !== dnnMachine().machine) return;
    const message: UnloadMessage = { op: 'unload', models: ids };
    dnnMachine().bpu.submitJob({
      kernelIndex: MESSAGE_JOB,
      plan: { reads: [], writes: [], params: [], bytes: 0 },
      where: 'hbDNNRelease',
      writes: [],
      message,
      onSettle: () => {},
    });
  }

  function releasePack(packed: hbPackedDNNHandle_t): number {
    const fn = 'hbDNNRelease';
    const p = pack(fn, packed);
    if (typeof p === 'number') return p;
    const busy = p.models.filter((m) => m.liveTasks > 0);
    if (busy.length > 0) {
      const what = busy
        .map((m) => `model '${m.iface.name}' has ${m.liveTasks} live task(s)`)
        .join(', ');
      if (p.machine.sanitizer.on) p.machine.hazards.modelReleasedBusy(what);
      return dnnFail(
        HB_DNN_MODEL_IS_RUNNING,
        fn,
        `${what}: wait for them (hbDNNWaitTaskDone) and release them (hbDNNReleaseTask) first`,
      );
    }
    const finishing = p.models.filter((m) => m.finishingTasks > 0);
    if (finishing.length > 0) {
      const what = finishing
        .map((m) => `model '${m.iface.name}' has ${m.finishingTasks} task(s)`)
        .join(', ');
      return dnnFail(
        HB_DNN_MODEL_IS_RUNNING,
        fn,
        `${what} released before completing, which the BPU is still running (a started job ` +
          'runs to its end): release the pack once they end, and wait for a task with ' +
          'hbDNNWaitTaskDone before releasing it',
      );
    }
    p.released = true;
    for (const m of p.models) m.released = true;
    unload(
      p.machine,
      p.models.map((m) => m.id),
    );
    return 0;
  }

  const backend: DnnBackend = {
    getVersion: () => `${EMULATED_LIBDNN_VERSION}_(hbsys emulator)`,

    initializeFromFiles(files) {
      const fn = 'hbDNNInitializeFromFiles';
      const missing = ortMissing();
      if (missing !== undefined) return { code: dnnFail(HB_DNN_API_USE_ERROR, fn, missing) };
      const loaded: ModelInterface[] = [];
      for (const file of files) {
        try {
          loaded.push(loadModelFile(file));
        } catch (error) {
          if (!(error instanceof ModelFileError)) throw error;
          const code = error.kind === 'open' ? HB_DNN_CAN_NOT_OPEN_FILE : HB_DNN_INVALID_MODEL;
          return { code: dnnFail(code, fn, error.message) };
        }
      }
      const names = new Set<string>();
      for (const m of loaded) {
        if (names.has(m.name)) {
          return {
            code: dnnFail(
              HB_DNN_INVALID_MODEL,
              fn,
              `two models are named '${m.name}' (${m.file}): model names must differ (set ` +
                'output_model_file_prefix in their configs)',
            ),
          };
        }
        names.add(m.name);
      }
      const { machine, bpu } = dnnMachine();
      const records: ModelRecord[] = loaded.map((iface) => ({
        id: bpu.nextId(),
        machine,
        iface,
        released: false,
        liveTasks: 0,
        finishingTasks: 0,
      }));
      // Loading is a BPU job: it makes the ONNX runtime's session in the worker and runs it
      // once, which warms it and gives the outputs' shapes (see LoadMessage).
      const replies = records.map(() => new SharedArrayBuffer(LOAD_REPLY_BYTES));
      const jobs = records.map((r, i) => {
        const message: LoadMessage = {
          op: 'load',
          model: r.id,
          file: r.iface.file,
          bytes: r.iface.bytes,
          inputs: r.iface.inputs.map((x) => loadInput(x)),
          reply: replies[i]!,
        };
        return bpu.submitJob({
          kernelIndex: MESSAGE_JOB,
          plan: { reads: [], writes: [], params: [], bytes: r.iface.bytes.byteLength },
          where: `${fn}(${r.iface.file})`,
          writes: [],
          message,
          onSettle: () => {},
        });
      });
      let failure: number | undefined;
      for (const [i, job] of jobs.entries()) {
        bpu.waitFor(job, 0);
        const o = job.outcome;
        if (failure === undefined && o !== undefined && o.state !== 'ok') {
          const why = o.message.replace(/^.*?the job faulted on the BPU: /, '');
          const code = why.includes('npm install') ? HB_DNN_API_USE_ERROR : HB_DNN_INVALID_MODEL;
          failure = dnnFail(code, fn, `${records[i]!.iface.file}: ${why}`);
        }
        if (failure === undefined && o?.state === 'ok') {
          try {
            resolveOutputs(records[i]!.iface, readLoadReply(replies[i]!));
          } catch (error) {
            if (!(error instanceof ModelFileError)) throw error;
            failure = dnnFail(HB_DNN_INVALID_MODEL, fn, error.message);
          }
        }
      }
      if (failure !== undefined) {
        unload(
          machine,
          records.map((r) => r.id),
        );
        return { code: failure };
      }
      for (const r of records) r.iface.bytes = new Uint8Array(0);
      const record: PackRecord = { machine, models: records, released: false };
      for (const r of records) r.handle = models.make(r);
      return { code: 0, value: packs.make(record) };
    },

    release: (packed) => locked(() => releasePack(packed)),

    getModelNameList(packed) {
      const p = pack('hbDNNGetModelNameList', packed);
      if (typeof p === 'number') return { code: p };
      return { code: 0, value: p.models.map((m) => m.iface.name) };
    },

    getModelHandle(packed, name) {
      const fn = 'hbDNNGetModelHandle';
      const p = pack(fn, packed);
      if (typeof p === 'number') return { code: p };
      const m = p.models.find((x) => x.iface.name === name);
      if (m === undefined) {
        const all = p.models.map((x) => `'${x.iface.name}'`).join(', ');
        return {
          code: dnnFail(
            HB_DNN_INVALID_ARGUMENT,
            fn,
            `no model named '${name}' in this pack (it has ${all}): take a name from hbDNNGetModelNameList`,
          ),
        };
      }
      return { code: 0, value: m.handle! };
    },

    getInputCount(handle) {
      const m = model('hbDNNGetInputCount', handle);
      return typeof m === 'number' ? { code: m } : { code: 0, value: m.iface.inputs.length };
    },

    getOutputCount(handle) {
      const m = model('hbDNNGetOutputCount', handle);
      return typeof m === 'number' ? { code: m } : { code: 0, value: m.iface.outputs.length };
    },

    getInputName(handle, i) {
      const fn = 'hbDNNGetInputName';
      const m = model(fn, handle);
      if (typeof m === 'number') return { code: m };
      const at = index(fn, m, i, 'input');
      return at < 0 ? { code: at } : { code: 0, value: m.iface.inputs[at]!.name };
    },

    getOutputName(handle, i) {
      const fn = 'hbDNNGetOutputName';
      const m = model(fn, handle);
      if (typeof m === 'number') return { code: m };
      const at = index(fn, m, i, 'output');
      return at < 0 ? { code: at } : { code: 0, value: m.iface.outputs[at]!.name };
    },

    getInputTensorProperties(handle, i) {
      const fn = 'hbDNNGetInputTensorProperties';
      const m = model(fn, handle);
      if (typeof m === 'number') return { code: m };
      const at = index(fn, m, i, 'input');
      return at < 0
        ? { code: at }
        : { code: 0, value: copyProperties(m.iface.inputs[at]!.properties) };
    },

    getOutputTensorProperties(handle, i) {
      const fn = 'hbDNNGetOutputTensorProperties';
      const m = model(fn, handle);
      if (typeof m === 'number') return { code: m };
      const at = index(fn, m, i, 'output');
      return at < 0
        ? { code: at }
        : { code: 0, value: copyProperties(m.iface.outputs[at]!.properties) };
    },

    infer(task, output, input, handle, ctrl: InferCtrlSnapshot): DnnResult<hbDNNTaskHandle_t> {
      const m = model('hbDNNInfer', handle);
      if (typeof m === 'number') return { code: m };
      return locked(() => tasks.infer(task, output, input, m, ctrl));
    },

    waitTaskDone: (task, timeoutMs) => tasks.wait(task, timeoutMs),
    taskDone: (task) => tasks.done(task),
    releaseTask: (task) => locked(() => tasks.release(task)),

    resize(
      output: TensorSnapshot,
      input: TensorSnapshot,
      roi: Readonly<hbDNNRoi> | null,
      ctrl: ResizeCtrlSnapshot,
    ): DnnResult<hbDNNTaskHandle_t> {
      void ctrl; // priority and core choice change nothing on one emulated BPU
      return locked(() => {
        const plan = planResize(dnnMachine().machine, output, input, roi);
        if (typeof plan === 'number') return { code: plan };
        return tasks.resize(plan);
      });
    },

    discard: (handle) => locked(() => discard(handle)),
  };
  function discard(handle: unknown): void {
    const p = packs.get(handle);
    if (p !== undefined) {
      p.released = true;
      for (const m of p.models) m.released = true;
      unload(
        p.machine,
        p.models.map((m) => m.id),
      );
      return;
    }
    tasks.discard(handle as hbDNNTaskHandle_t);
  }
  return backend;
}

/** A deep copy: the caller never shares arrays with the model's own properties. */
export function copyProperties(p: hbDNNTensorProperties): hbDNNTensorProperties {
  return {
    validShape: {
      dimensionSize: [...p.validShape.dimensionSize],
      numDimensions: p.validShape.numDimensions,
    },
    alignedShape: {
      dimensionSize: [...p.alignedShape.dimensionSize],
      numDimensions: p.alignedShape.numDimensions,
    },
    tensorLayout: p.tensorLayout,
    tensorType: p.tensorType,
    shift: { shiftLen: p.shift.shiftLen, shiftData: p.shift.shiftData?.slice() ?? null },
    scale: {
      scaleLen: p.scale.scaleLen,
      scaleData: p.scale.scaleData?.slice() ?? null,
      zeroPointLen: p.scale.zeroPointLen,
      zeroPointData: p.scale.zeroPointData?.slice() ?? null,
    },
    quantiType: p.quantiType,
    quantizeAxis: p.quantizeAxis,
    alignedByteSize: p.alignedByteSize,
    stride: [...p.stride],
  };
}

/** An input of a model's load run: zeros of the ONNX input, or a zero image for its stage. */
function loadInput(x: InputInterface): LoadInput {
  const input = { name: x.name, type: x.ort, dims: x.dims };
  if (x.stage === undefined) return input;
  const p = x.properties;
  const aligned = p.alignedShape.dimensionSize.slice(0, p.alignedShape.numDimensions);
  return {
    ...input,
    image: {
      stage: x.stage,
      bytes: p.alignedByteSize,
      stride: rowStride(p.tensorType, p.tensorLayout, aligned),
    },
  };
}
