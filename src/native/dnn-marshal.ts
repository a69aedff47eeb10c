/**
 * One native block per hbDNNInfer or hbDNNResize call, holding everything C reads: the task
 * cell, the output pointer cell, the control parameters, the tensor arrays and the tensors'
 * quantisation arrays. One malloc per call, one free when the task no longer needs it.
 *
 * libdnn may read the tensor arrays until the task completes (the header does not say that
 * it copies them at submit), so the block belongs to the task, not to the call.
 */

import type { InferCtrlSnapshot, ResizeCtrlSnapshot } from '../dnn/backend.js';
import type { hbDNNRoi, hbDNNTensorProperties } from '../dnn/types.js';
import {
  type DnnLayout,
  encodeInferCtrl,
  encodeProperties,
  encodeResizeCtrl,
  encodeRoi,
  encodeSysMem,
  INFER_CTRL_SIZE,
  type QuantArrays,
  quantArrays,
  RESIZE_CTRL_SIZE,
  ROI_SIZE,
  SYS_MEM_SIZE,
  type SysMemFields,
  TENSOR_PROPERTIES,
} from './dnn-layout.js';
import type { NativeBlock } from './libdnn.js';

/** Native memory of `size` zeroed bytes (throws when there is none). */
export type Allocate = (size: number) => NativeBlock;

/** A tensor checked against its model: the memory C will use and the caller's properties. */
export interface ResolvedTensor {
  readonly sysMem: readonly SysMemFields[];
  readonly properties: Readonly<hbDNNTensorProperties>;
}

const align8 = (n: number) => (n + 7) & ~7;

function quantSize(q: QuantArrays): number {
  return align8(q.shift.length) + align8(q.scale.length) + align8(q.zeroPoint.length);
}

/** Writes `tensors` as a contiguous hbDNNTensor array at `at`, their arrays from `extra` on. */
function writeTensors(
  block: NativeBlock,
  layout: DnnLayout,
  at: number,
  tensors: readonly ResolvedTensor[],
  quants: readonly QuantArrays[],
  extra: number,
): number {
  const view = block.bytes;
  const bytes = new Uint8Array(view.buffer, view.byteOffset, block.size);
  const place = (data: Uint8Array): bigint => {
    if (data.length === 0) return 0n;
    const address = block.address + BigInt(extra);
    bytes.set(data, extra);
    extra += align8(data.length);
    return address;
  };
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const base = at + i * layout.tensorSize;
    for (let k = 0; k < t.sysMem.length; k++) {
      encodeSysMem(view, base + k * SYS_MEM_SIZE, t.sysMem[k]!);
    }
    const q = quants[i]!;
    const arrays = { shift: place(q.shift), scale: place(q.scale), zeroPoint: place(q.zeroPoint) };
    encodeProperties(view, base + TENSOR_PROPERTIES, layout, t.properties, arrays);
  }
  return extra;
}

/** The block of an hbDNNInfer call and where C's arguments are in it. */
export interface InferCall {
  readonly block: NativeBlock;
  /** `hbDNNTaskHandle_t *`: holds the task to append to, or 0. */
  readonly taskCell: bigint;
  /** `hbDNNTensor **`: holds the address of the output array. */
  readonly outputCell: bigint;
  readonly input: bigint;
  readonly ctrl: bigint;
}

const TASK_CELL = 0;
const OUTPUT_CELL = 8;
const CTRL = 16;

/** Lays out one hbDNNInfer call in memory from `allocate`. */
export function marshalInfer(
  allocate: Allocate,
  layout: DnnLayout,
  task: bigint,
  output: readonly ResolvedTensor[],
  input: readonly ResolvedTensor[],
  ctrl: InferCtrlSnapshot,
): InferCall {
  const inputAt = CTRL + INFER_CTRL_SIZE;
  const outputAt = inputAt + input.length * layout.tensorSize;
  const arraysAt = outputAt + output.length * layout.tensorSize;
  const inQuant = input.map((t) => quantArrays(t.properties, layout));
  const outQuant = output.map((t) => quantArrays(t.properties, layout));
  let size = arraysAt;
  for (const q of [...inQuant, ...outQuant]) size += quantSize(q);
  const block = allocate(size);
  const view = block.bytes;
  view.setBigUint64(TASK_CELL, task, true);
  view.setBigUint64(OUTPUT_CELL, block.address + BigInt(outputAt), true);
  encodeInferCtrl(view, CTRL, layout, ctrl);
  const extra = writeTensors(block, layout, inputAt, input, inQuant, arraysAt);
  writeTensors(block, layout, outputAt, output, outQuant, extra);
  return {
    block,
    taskCell: block.address + BigInt(TASK_CELL),
    outputCell: block.address + BigInt(OUTPUT_CELL),
    input: block.address + BigInt(inputAt),
    ctrl: block.address + BigInt(CTRL),
  };
}

/** The block of an hbDNNResize call and where C's arguments are in it. */
export interface ResizeCall {
  readonly block: NativeBlock;
  readonly taskCell: bigint;
  readonly output: bigint;
  readonly input: bigint;
  /** 0 for the whole image. */
  readonly roi: bigint;
  readonly ctrl: bigint;
}

/** Lays out one hbDNNResize call in memory from `allocate`. */
export function marshalResize(
  allocate: Allocate,
  layout: DnnLayout,
  output: ResolvedTensor,
  input: ResolvedTensor,
  roi: Readonly<hbDNNRoi> | null,
  ctrl: ResizeCtrlSnapshot,
): ResizeCall {
  const roiAt = 8;
  const ctrlAt = roiAt + ROI_SIZE;
  const inputAt = ctrlAt + align8(RESIZE_CTRL_SIZE);
  const outputAt = inputAt + layout.tensorSize;
  const arraysAt = outputAt + layout.tensorSize;
  const inQuant = quantArrays(input.properties, layout);
  const outQuant = quantArrays(output.properties, layout);
  const block = allocate(arraysAt + quantSize(inQuant) + quantSize(outQuant));
  if (roi !== null) encodeRoi(block.bytes, roiAt, roi);
  encodeResizeCtrl(block.bytes, ctrlAt, ctrl);
  const extra = writeTensors(block, layout, inputAt, [input], [inQuant], arraysAt);
  writeTensors(block, layout, outputAt, [output], [outQuant], extra);
  return {
    block,
    taskCell: block.address,
    output: block.address + BigInt(outputAt),
    input: block.address + BigInt(inputAt),
    roi: roi === null ? 0n : block.address + BigInt(roiAt),
    ctrl: block.address + BigInt(ctrlAt),
  };
}
