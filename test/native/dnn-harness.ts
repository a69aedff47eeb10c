/**
 * The native hbDNN backend over one stand-in libdnn.so, driven through C-style functions
 * with the API's conventions (out-parameters whose `value` the call sets, tensors as
 * `{ sysMem, properties }`). Until the public hbDNN* functions and the native backend meet on
 * one branch, {@link cStyle} plays the front over the backend object; a test written against
 * {@link DnnApi} runs unchanged over the public functions (`import * as api from 'hbsys'`).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DnnBackend, InferCtrlSnapshot, TensorSnapshot } from '../../src/dnn/backend.js';
import { hbDNNGetLastError } from '../../src/dnn/status.js';
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
} from '../../src/dnn/types.js';
import * as publicApi from '../../src/index.js';
import { useBackend } from '../../src/index.js';
import type { hbSysMem } from '../../src/mem.js';
import { createNativeBackend, type NativeBackend } from '../../src/native/backend.js';
import type { NativeDnnBackend } from '../../src/native/dnn.js';
import { loadLibdnn } from '../../src/native/libdnn.js';
import { type MemSnapshot, snapshotMem } from '../../src/snapshot.js';
import {
  DNN_VARIANTS,
  type DnnVariantName,
  type StandinDnnExtras,
  type StandinExtras,
  standinDnnExtras,
  standinExtras,
  standinVariantPath,
} from './standin.js';

/** The hbDNN functions as a program calls them (the subset these tests use). */
export interface DnnApi {
  hbDNNGetVersion(): string;
  hbDNNInitializeFromFiles(
    packed: hbDNNOut<hbPackedDNNHandle_t>,
    files: readonly string[],
    count: number,
  ): number;
  hbDNNRelease(packed: hbPackedDNNHandle_t): number;
  hbDNNGetModelNameList(
    names: hbDNNOut<readonly string[]>,
    count: hbDNNOut<number>,
    packed: hbPackedDNNHandle_t,
  ): number;
  hbDNNGetModelHandle(
    model: hbDNNOut<hbDNNHandle_t>,
    packed: hbPackedDNNHandle_t,
    name: string,
  ): number;
  hbDNNGetInputCount(count: hbDNNOut<number>, model: hbDNNHandle_t): number;
  hbDNNGetOutputCount(count: hbDNNOut<number>, model: hbDNNHandle_t): number;
  hbDNNGetInputName(name: hbDNNOut<string>, model: hbDNNHandle_t, index: number): number;
  hbDNNGetOutputName(name: hbDNNOut<string>, model: hbDNNHandle_t, index: number): number;
  hbDNNGetInputTensorProperties(
    p: Partial<hbDNNTensorProperties>,
    model: hbDNNHandle_t,
    index: number,
  ): number;
  hbDNNGetOutputTensorProperties(
    p: Partial<hbDNNTensorProperties>,
    model: hbDNNHandle_t,
    index: number,
  ): number;
  hbDNNInfer(
    task: hbDNNOut<hbDNNTaskHandle_t | null>,
    output: readonly hbDNNTensor[],
    input: readonly hbDNNTensor[],
    model: hbDNNHandle_t,
    ctrl: hbDNNInferCtrlParam,
  ): number;
  hbDNNWaitTaskDone(task: hbDNNTaskHandle_t, timeoutMs: number): number;
  hbDNNReleaseTask(task: hbDNNTaskHandle_t): number;
  hbDNNResize(
    task: hbDNNOut<hbDNNTaskHandle_t | null>,
    output: hbDNNTensor,
    input: hbDNNTensor,
    roi: hbDNNRoi | null,
    ctrl: hbDNNResizeCtrlParam,
  ): number;
}

function snapshotTensor(t: hbDNNTensor): TensorSnapshot {
  const sysMem = t.sysMem.map((m) => snapshotMem(m) as MemSnapshot);
  return { sysMem, properties: structuredClone(t.properties), source: t };
}

function ctrlOf(c: hbDNNInferCtrlParam): InferCtrlSnapshot {
  const { bpuCoreId, dspCoreId, priority, more, customId } = c;
  return { bpuCoreId, dspCoreId, priority, more: Boolean(more), customId };
}

/**
 * The C-style functions over `dnn`, as the front makes them: each reads the caller's
 * objects once and writes the out-parameter only on success. (Shape checks are the front's
 * and are left out here; these tests pass well-formed objects.)
 */
export function cStyle(dnn: DnnBackend): DnnApi {
  const out = <T>(target: hbDNNOut<T>, r: { code: number; value?: T }): number => {
    if (r.code === 0) target.value = r.value;
    return r.code;
  };
  return {
    hbDNNGetVersion: () => dnn.getVersion(),
    hbDNNInitializeFromFiles: (packed, files, count) =>
      out(packed, dnn.initializeFromFiles(files.slice(0, count))),
    hbDNNRelease: (packed) => dnn.release(packed),
    hbDNNGetModelNameList(names, count, packed) {
      const r = dnn.getModelNameList(packed);
      if (r.code === 0 && 'value' in r) {
        names.value = r.value;
        count.value = r.value.length;
      }
      return r.code;
    },
    hbDNNGetModelHandle: (model, packed, name) => out(model, dnn.getModelHandle(packed, name)),
    hbDNNGetInputCount: (count, model) => out(count, dnn.getInputCount(model)),
    hbDNNGetOutputCount: (count, model) => out(count, dnn.getOutputCount(model)),
    hbDNNGetInputName: (name, model, i) => out(name, dnn.getInputName(model, i)),
    hbDNNGetOutputName: (name, model, i) => out(name, dnn.getOutputName(model, i)),
    hbDNNGetInputTensorProperties(p, model, i) {
      const r = dnn.getInputTensorProperties(model, i);
      if (r.code === 0 && 'value' in r) Object.assign(p, r.value);
      return r.code;
    },
    hbDNNGetOutputTensorProperties(p, model, i) {
      const r = dnn.getOutputTensorProperties(model, i);
      if (r.code === 0 && 'value' in r) Object.assign(p, r.value);
      return r.code;
    },
    hbDNNInfer: (task, output, input, model, ctrl) =>
      out(
        task,
        dnn.infer(
          task.value ?? null,
          output.map(snapshotTensor),
          input.map(snapshotTensor),
          model,
          ctrlOf(ctrl),
        ),
      ),
    hbDNNWaitTaskDone: (task, timeoutMs) => dnn.waitTaskDone(task, timeoutMs),
    hbDNNReleaseTask: (task) => dnn.releaseTask(task),
    hbDNNResize(task, output, input, roi, ctrl) {
      assert.ok(dnn.resize, 'this libdnn has no hbDNNResize');
      const { bpuCoreId, priority, resizeType } = ctrl;
      return out(
        task,
        dnn.resize(snapshotTensor(output), snapshotTensor(input), roi && { ...roi }, {
          bpuCoreId,
          priority,
          resizeType,
        }),
      );
    },
  };
}

/** One stand-in variant, loaded: its hbSys backend, its model API, and C's counters. */
export interface Standin {
  readonly variant: DnnVariantName;
  readonly path: string;
  readonly sys: NativeBackend;
  readonly dnn: NativeDnnBackend;
  readonly api: DnnApi;
  readonly sysExtras: StandinExtras;
  readonly extras: StandinDnnExtras;
}

const loaded = new Map<DnnVariantName, Standin>();

/** The stand-in `variant`, built and loaded once per process. */
export function standin(variant: DnnVariantName): Standin {
  const known = loaded.get(variant);
  if (known !== undefined) return known;
  const s = freshStandin(variant);
  loaded.set(variant, s);
  return s;
}

/**
 * New backends over the stand-in `variant`: the library is the process's one instance (the
 * dynamic linker shares it), but the backends' state (handles, the layout chosen) is new.
 */
export function freshStandin(variant: DnnVariantName): Standin {
  const path = standinVariantPath(variant);
  const sys = createNativeBackend(loadLibdnn([path]));
  const dnn = sys.dnn() as NativeDnnBackend;
  return {
    variant,
    path,
    sys,
    dnn,
    api: cStyle(dnn),
    sysExtras: standinExtras(path),
    extras: standinDnnExtras(path),
  };
}

/**
 * The stand-in `variant` as a program meets it: the package's backend, chosen with
 * `useBackend('native')` over that library, and the package's public hbDNN functions (with
 * their front: one read of each object, the checks that need no model). One per process.
 */
export function publicStandin(variant: DnnVariantName): Standin {
  const path = standinVariantPath(variant);
  process.env.HBSYS_LIBDNN = path;
  const sys = useBackend('native');
  return {
    variant,
    path,
    sys,
    dnn: sys.dnn() as NativeDnnBackend,
    api: publicApi,
    sysExtras: standinExtras(path),
    extras: standinDnnExtras(path),
  };
}

export const VARIANTS = Object.keys(DNN_VARIANTS) as DnnVariantName[];

/** Asserts success, showing the recorded failure otherwise. */
export function ok(code: number): void {
  assert.equal(code, 0, hbDNNGetLastError()?.message);
}

/** Asserts the code and that the message says something; returns the message. */
export function fails(code: number, expected: number, pattern?: RegExp): string {
  assert.equal(
    code,
    expected,
    `expected ${expected}, got ${code}: ${hbDNNGetLastError()?.message}`,
  );
  const message = hbDNNGetLastError()?.message ?? '';
  if (pattern) assert.match(message, pattern);
  return message;
}

let modelDir: string | undefined;
let modelCount = 0;

/** Writes a stand-in model file; its path. */
export function writeModel(text: string, ext = '.bin'): string {
  modelDir ??= mkdtempSync(join(tmpdir(), 'hbsys-dnn-models-'));
  const path = join(modelDir, `model-${modelCount++}${ext}`);
  writeFileSync(path, text);
  return path;
}

/**
 * hbDNNInitializeFromFiles of `file` on `s`: the pack, and a model's handle by its name
 * (hbDNNGetModelHandle).
 */
export function loadModels(s: Standin, file: string) {
  const packed: hbDNNOut<hbPackedDNNHandle_t> = {};
  ok(s.api.hbDNNInitializeFromFiles(packed, [file], 1));
  const handle = (name: string) => {
    const out: hbDNNOut<hbDNNHandle_t> = {};
    ok(s.api.hbDNNGetModelHandle(out, packed.value!, name));
    return out.value!;
  };
  return { packed: packed.value!, handle };
}

/** The properties of input or output `i` of `model`, as libdnn reports them. */
export function tensorProperties(
  s: Standin,
  model: hbDNNHandle_t,
  side: 'input' | 'output',
  i = 0,
): hbDNNTensorProperties {
  const p: Partial<hbDNNTensorProperties> = {};
  const get =
    side === 'input' ? s.api.hbDNNGetInputTensorProperties : s.api.hbDNNGetOutputTensorProperties;
  ok(get(p, model, i));
  return p as hbDNNTensorProperties;
}

/** A tensor of input or output `i` of `model`: one cached allocation of `size` bytes. */
export function tensorOf(
  s: Standin,
  model: hbDNNHandle_t,
  side: 'input' | 'output',
  size: number,
  i = 0,
): hbDNNTensor {
  return { sysMem: [alloc(s, size)], properties: tensorProperties(s, model, side, i) };
}

/** A cached allocation of `size` bytes on `s`'s hbSys backend. */
export function alloc(s: Standin, size: number): hbSysMem {
  const mem: hbSysMem = { phyAddr: 0n, virAddr: null, memSize: 0 };
  assert.equal(s.sys.allocMem(mem, size, true), 0);
  return mem;
}

export function free(s: Standin, mem: hbSysMem): void {
  assert.equal(s.sys.freeMem(snap(mem)), 0);
}

/** One read of `mem`, as the public functions hand it to a backend. */
export function snap(mem: hbSysMem): MemSnapshot {
  const snapshot = snapshotMem(mem);
  if ('error' in snapshot) throw new Error(snapshot.error);
  return snapshot;
}

/** The default control parameters (`HB_DNN_INITIALIZE_INFER_CTRL_PARAM`) with `over`. */
export function ctrl(over: Partial<hbDNNInferCtrlParam> = {}): hbDNNInferCtrlParam {
  return {
    bpuCoreId: 0,
    dspCoreId: 0,
    priority: 0,
    more: 0,
    customId: 0,
    reserved1: 0,
    reserved2: 0,
    ...over,
  };
}

/** What the stand-in model computes: byte i of the output from the input's bytes. */
export function expected(
  input: Uint8Array,
  inBytes: number,
  outBytes: number,
  k: number,
  b: number,
) {
  const out = new Uint8Array(outBytes);
  for (let i = 0; i < outBytes; i++) out[i] = i < inBytes ? (input[i]! * k + b) & 0xff : 0;
  return out;
}
