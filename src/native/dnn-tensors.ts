/**
 * The checks of a tensor that need the model and the memory, made in TypeScript before C
 * sees the tensor: a stale, foreign or too small hbSysMem would otherwise become a pointer
 * that libdnn (or the BPU) writes through. A sub-range of live memory (a crop, as hobot_dnn
 * builds for camera frames) is a tensor's memory from where it starts, as on the board.
 */

import type { TensorSnapshot } from '../dnn/backend.js';
import { dnnFail, HB_DNN_INVALID_ARGUMENT } from '../dnn/status.js';
import {
  HB_DNN_IMG_TYPE_BGR,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_TENSOR_MAX_SYS_MEM,
  type hbDNNTensorProperties,
} from '../dnn/types.js';
import type { NativeBackend } from './backend.js';
import { MAX_QUANT_LENGTH } from './dnn-layout.js';
import type { ResolvedTensor } from './dnn-marshal.js';

/** How many hbSysMem a tensor of `type` uses: NV12_SEPARATE has Y and UV apart. */
export function memCount(type: number): number {
  return type === HB_DNN_IMG_TYPE_NV12_SEPARATE ? 2 : 1;
}

const isNv12 = (type: number) =>
  type === HB_DNN_IMG_TYPE_NV12 || type === HB_DNN_IMG_TYPE_NV12_SEPARATE;

/** An image type (Y, NV12, NV12_SEPARATE, YUV444, RGB, BGR), as hbDNNResize requires. */
export const isImageType = (type: number) => type >= 0 && type <= HB_DNN_IMG_TYPE_BGR;

/** What a tensor is checked against. */
export interface TensorExpectation {
  /** For messages: `input[0]`, `output[2]`. */
  readonly label: string;
  /** The model's properties of this tensor; undefined for hbDNNResize (no model). */
  readonly model: Readonly<hbDNNTensorProperties> | undefined;
  readonly isInput: boolean;
  /** Where to tell the caller to copy properties from. */
  readonly source: string;
}

/**
 * The tensor resolved to what C needs, or the code of a failure recorded for `fn`. Reads
 * only the snapshot, never the caller's objects.
 */
export function resolveTensor(
  fn: string,
  sys: NativeBackend,
  t: TensorSnapshot,
  want: TensorExpectation,
): ResolvedTensor | number {
  const p = t.properties;
  const bad = (message: string) =>
    dnnFail(HB_DNN_INVALID_ARGUMENT, fn, `${want.label}: ${message}`);
  const model = want.model;
  if (model !== undefined && p.tensorType !== model.tensorType) {
    const switched = want.isInput && isNv12(p.tensorType) && isNv12(model.tensorType);
    if (!switched) {
      return bad(
        `tensorType is ${p.tensorType}, the model's is ${model.tensorType}: copy the properties ` +
          `from ${want.source}${want.isInput && isNv12(model.tensorType) ? ' (an NV12 input may switch to NV12_SEPARATE)' : ''}`,
      );
    }
  }
  for (const [name, n] of [
    ['shift.shiftLen', p.shift.shiftLen],
    ['scale.scaleLen', p.scale.scaleLen],
    ['scale.zeroPointLen', p.scale.zeroPointLen],
  ] as const) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_QUANT_LENGTH) {
      return bad(`${name} must be an integer in 0 … ${MAX_QUANT_LENGTH}, got ${String(n)}`);
    }
  }
  const needed = memCount(p.tensorType);
  if (t.sysMem.length < needed || t.sysMem.length > HB_DNN_TENSOR_MAX_SYS_MEM) {
    return bad(
      `has ${t.sysMem.length} sysMem; a tensor of type ${p.tensorType} uses ${needed}` +
        (needed === 2 ? ' (Y, then UV)' : '') +
        ': fill sysMem[0]' +
        (needed === 2 ? ' and sysMem[1]' : '') +
        ' with hbSysAllocCachedMem',
    );
  }
  const sysMem = [];
  for (let i = 0; i < needed; i++) {
    const ref = sys.nativeMappingOf(t.sysMem[i]!);
    if ('problem' in ref) return bad(`sysMem[${i}]: ${ref.problem}`);
    sysMem.push(ref);
  }
  // libdnn reads or writes the model's alignedByteSize, or the caller's if larger; split into
  // Y (two thirds) and UV (one third) where the planes are apart.
  const required = Math.max(model?.alignedByteSize ?? 0, p.alignedByteSize);
  const y = needed === 2 ? Math.ceil((required * 2) / 3) : required;
  const planes = needed === 2 ? [y, required - y] : [required];
  for (let i = 0; i < needed; i++) {
    if (sysMem[i]!.memSize < planes[i]!) {
      const part = needed === 2 ? ` (its ${i === 0 ? 'Y' : 'UV'} plane)` : '';
      return bad(
        `sysMem[${i}].memSize is ${sysMem[i]!.memSize}, below the ${planes[i]} bytes${part} of ` +
          `the tensor's alignedByteSize ${required}: allocate at least alignedByteSize bytes ` +
          '(hbSysAllocCachedMem(mem, properties.alignedByteSize))',
      );
    }
  }
  return { sysMem, properties: p };
}
