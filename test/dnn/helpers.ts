/** Shared steps of the hbDNN tests: load a model, make tensors, run a task. Not a test file. */

import assert from 'node:assert/strict';
import {
  HB_DNN_INITIALIZE_INFER_CTRL_PARAM,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  hbDNNGetInputCount,
  hbDNNGetInputTensorProperties,
  hbDNNGetLastError,
  hbDNNGetModelHandle,
  hbDNNGetModelNameList,
  hbDNNGetOutputCount,
  hbDNNGetOutputTensorProperties,
  type hbDNNHandle_t,
  hbDNNInfer,
  type hbDNNInferCtrlParam,
  hbDNNInitializeFromFiles,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  hbDNNWaitTaskDone,
  type hbPackedDNNHandle_t,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
} from '../../src/index.js';

/** Asserts a C-style call succeeded, showing hbDNNGetLastError's message when not. */
export function ok(code: number): void {
  assert.equal(code, 0, `call failed: ${hbDNNGetLastError()?.message}`);
}

export interface Loaded {
  packed: hbPackedDNNHandle_t;
  model: hbDNNHandle_t;
  name: string;
}

/** hbDNNInitializeFromFiles, then the first model's handle. */
export function load(file: string): Loaded {
  const packed: { value?: hbPackedDNNHandle_t } = {};
  ok(hbDNNInitializeFromFiles(packed, [file], 1));
  const names: { value?: readonly string[] } = {};
  const count: { value?: number } = {};
  ok(hbDNNGetModelNameList(names, count, packed.value!));
  const model: { value?: hbDNNHandle_t } = {};
  ok(hbDNNGetModelHandle(model, packed.value!, names.value![0]!));
  return { packed: packed.value!, model: model.value!, name: names.value![0]! };
}

export function inputProperties(model: hbDNNHandle_t, i = 0): hbDNNTensorProperties {
  const p = {} as hbDNNTensorProperties;
  ok(hbDNNGetInputTensorProperties(p, model, i));
  return p;
}

export function outputProperties(model: hbDNNHandle_t, i = 0): hbDNNTensorProperties {
  const p = {} as hbDNNTensorProperties;
  ok(hbDNNGetOutputTensorProperties(p, model, i));
  return p;
}

/** A tensor with its memory allocated (alignedByteSize bytes, cached unless said). */
export function tensor(
  properties: hbDNNTensorProperties,
  cached = true,
  bytes?: number,
): hbDNNTensor {
  const mem = {} as hbSysMem;
  const code = (cached ? hbSysAllocCachedMem : hbSysAllocMem)(
    mem,
    bytes ?? properties.alignedByteSize,
  );
  assert.equal(code, 0, hbSysGetLastError()?.message);
  return { sysMem: [mem], properties };
}

/** Every input and output tensor of a model. */
export function tensors(
  model: hbDNNHandle_t,
  cached = true,
): { inputs: hbDNNTensor[]; outputs: hbDNNTensor[] } {
  const n = { value: 0 };
  const m = { value: 0 };
  ok(hbDNNGetInputCount(n, model));
  ok(hbDNNGetOutputCount(m, model));
  return {
    inputs: Array.from({ length: n.value }, (_, i) => tensor(inputProperties(model, i), cached)),
    outputs: Array.from({ length: m.value }, (_, i) => tensor(outputProperties(model, i), cached)),
  };
}

export function freeAll(list: hbDNNTensor[]): void {
  for (const t of list) for (const m of t.sysMem) hbSysFreeMem(m);
}

export function ctrl(more = false): hbDNNInferCtrlParam {
  const c = {} as hbDNNInferCtrlParam;
  HB_DNN_INITIALIZE_INFER_CTRL_PARAM(c);
  c.more = more ? 1 : 0;
  return c;
}

/** Float32 view of a tensor's memory through its mapping. */
export function f32(t: hbDNNTensor, i = 0): Float32Array {
  const v = t.sysMem[i]!.virAddr!;
  return new Float32Array(v.buffer, v.byteOffset, v.byteLength >> 2);
}

/** The whole C sequence: CLEAN inputs, infer, wait, INVALIDATE outputs, release. */
export function run(model: hbDNNHandle_t, inputs: hbDNNTensor[], outputs: hbDNNTensor[]): void {
  for (const t of inputs) for (const m of t.sysMem) ok(hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN));
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  ok(hbDNNInfer(task, outputs, inputs, model, ctrl()));
  ok(hbDNNWaitTaskDone(task.value!, 0));
  for (const t of outputs)
    for (const m of t.sysMem) ok(hbSysFlushMem(m, HB_SYS_MEM_CACHE_INVALIDATE));
  ok(hbDNNReleaseTask(task.value!));
}
