/**
 * What a backend implements of `hb_dnn.h`, after the C-style front (hbdnn.ts) has read the
 * caller's objects once and checked their shape.
 *
 * The front owns: reading each field of the caller's objects exactly once (snapshots),
 * checking types and ranges that need no model (counts, indices, shapes with 1 … 8
 * dimensions, control parameters), writing results into the caller's out-parameters, and
 * undoing the backend's work when that write fails (a failing call changes nothing).
 *
 * The backend owns: handles (opaque objects it makes and recognises; a number, a copy or a
 * released handle is refused), models, properties, tasks, and every check that needs them
 * (tensors against the model, memory liveness and `memSize >= alignedByteSize`, the live
 * task limit). A failure records its message with `dnnFail` and returns the code in
 * {@link DnnResult}.
 */

import type { MemSnapshot } from '../snapshot.js';
import type {
  hbDNNHandle_t,
  hbDNNRoi,
  hbDNNTaskHandle_t,
  hbDNNTensor,
  hbDNNTensorProperties,
  hbPackedDNNHandle_t,
} from './types.js';

/** A value, or the code of a failure whose message `dnnFail` recorded. */
export type DnnResult<T> =
  | {
      /** Success. */
      readonly code: 0;
      /** What the call produced. */
      readonly value: T;
    }
  | {
      /** The failure's status code. */
      readonly code: number;
    };

/** One tensor as the front read it: every field copied once, shapes checked. */
export interface TensorSnapshot {
  /** 1 … 4 memory snapshots; validity of each is the backend's to check. */
  readonly sysMem: readonly MemSnapshot[];
  /** A deep copy of the caller's properties, structurally valid. */
  readonly properties: Readonly<hbDNNTensorProperties>;
  /** The caller's tensor, for identity only. */
  readonly source: hbDNNTensor;
}

/** `hbDNNInferCtrlParam` as read once. */
export interface InferCtrlSnapshot {
  /** An `HB_BPU_CORE_*` value. */
  readonly bpuCoreId: number;
  /** An `HB_DSP_CORE_*` value. */
  readonly dspCoreId: number;
  /** 0 … 255. */
  readonly priority: number;
  /** More models follow in this task. */
  readonly more: boolean;
  /** The user priority (smaller runs first). */
  readonly customId: number;
}

/** `hbDNNResizeCtrlParam` as read once. */
export interface ResizeCtrlSnapshot {
  /** An `HB_BPU_CORE_*` value. */
  readonly bpuCoreId: number;
  /** 0 … 255. */
  readonly priority: number;
  /** `HB_DNN_RESIZE_TYPE_BILINEAR`. */
  readonly resizeType: number;
}

/** The model API of one backend; the C-style hbDNN functions call it after reading their arguments. */
export interface DnnBackend {
  /** `hbDNNGetVersion()`: for example `1.24.5_(3.15.55 HBRT)`. */
  getVersion(): string;
  /** Loads every model of `files`; `files` has at least one non-empty path. */
  initializeFromFiles(files: readonly string[]): DnnResult<hbPackedDNNHandle_t>;
  /** Releases every model of `packed`; refused while tasks of them are live. */
  release(packed: hbPackedDNNHandle_t): number;
  /** The names of the models in `packed`, in file order. */
  getModelNameList(packed: hbPackedDNNHandle_t): DnnResult<readonly string[]>;
  /** The model called `name` in `packed`. */
  getModelHandle(packed: hbPackedDNNHandle_t, name: string): DnnResult<hbDNNHandle_t>;
  /** How many input tensors the model takes. */
  getInputCount(model: hbDNNHandle_t): DnnResult<number>;
  /** How many output tensors the model gives. */
  getOutputCount(model: hbDNNHandle_t): DnnResult<number>;
  /** The name of input `index`. */
  getInputName(model: hbDNNHandle_t, index: number): DnnResult<string>;
  /** The name of output `index`. */
  getOutputName(model: hbDNNHandle_t, index: number): DnnResult<string>;
  /** A fresh object each call; the front copies it into the caller's. */
  getInputTensorProperties(model: hbDNNHandle_t, index: number): DnnResult<hbDNNTensorProperties>;
  /** The properties of output `index`, a fresh object each call. */
  getOutputTensorProperties(model: hbDNNHandle_t, index: number): DnnResult<hbDNNTensorProperties>;
  /**
   * Submits (or, with `task` set and an earlier `more`, appends to) a task. `output` and
   * `input` have the model's counts of tensors (the front checked the counts against
   * nothing; the backend checks them against the model).
   */
  infer(
    task: hbDNNTaskHandle_t | null,
    output: readonly TensorSnapshot[],
    input: readonly TensorSnapshot[],
    model: hbDNNHandle_t,
    ctrl: InferCtrlSnapshot,
  ): DnnResult<hbDNNTaskHandle_t>;
  /** Blocks the calling thread; `timeoutMs <= 0` waits until done. */
  waitTaskDone(task: hbDNNTaskHandle_t, timeoutMs: number): number;
  /** Resolves with the task's status (0 or a code) when it completes; never rejects. */
  taskDone(task: hbDNNTaskHandle_t): Promise<number>;
  /** Ends a task: cancels it if it has not run; its tensors are the caller's to free. */
  releaseTask(task: hbDNNTaskHandle_t): number;
  /**
   * `hbDNNResize`, where this libdnn has it (up to 1.18.x); undefined where it does not,
   * and the front fails with a message that says so.
   */
  readonly resize:
    | ((
        output: TensorSnapshot,
        input: TensorSnapshot,
        roi: Readonly<hbDNNRoi> | null,
        ctrl: ResizeCtrlSnapshot,
      ) => DnnResult<hbDNNTaskHandle_t>)
    | undefined;
  /**
   * Undoes a call whose out-parameter could not be written, so that the caller never got
   * `handle` (a packed handle, or a new task): forget it quietly (no sanitizer finding, a
   * task cancelled if it has not started). Optional: without it the front calls
   * `release` or `releaseTask`.
   */
  discard?(handle: hbPackedDNNHandle_t | hbDNNTaskHandle_t): void;
  /**
   * Why the memory system may not free or unregister `[phyAddr, phyAddr + size)`: a live
   * task uses it and the program has not seen it complete. A sentence that says what to do,
   * or undefined. The memory backend asks before it frees anything. @internal
   */
  memoryHeldBy?(phyAddr: bigint, size: number): string | undefined;
  /** The library's own description of a code, where it has one (libdnn 1.24 and later). */
  libraryErrorDesc?(code: number): string | undefined;
}
