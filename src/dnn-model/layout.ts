/**
 * Where a tensor's elements sit in its memory, from its properties, and the copies between
 * that memory and a dense host array (validShape, row-major, no padding).
 *
 * - NV12 (one hbSysMem): H rows of Y then H/2 rows of interleaved UV, each row
 *   `alignedShape[3]` bytes apart (the row stride; equal to W unless the caller widened it).
 *   NV12_SEPARATE: the same two planes in two hbSysMem. The dense form is the W·H·3/2 bytes
 *   of a tightly packed NV12 frame.
 * - Every other type: element i of validShape sits at Σ index·stride bytes, where `stride`
 *   is the properties' byte stride per dimension when the library reports one (libdnn 1.18
 *   and later), else the contiguous strides of alignedShape. So a valid element never lands
 *   in the padding, and padding is neither read nor written.
 */

import {
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  type hbDNNTensorProperties,
} from '../dnn/types.js';
import type { ElementType } from './element.js';

export interface TensorLayout {
  readonly kind: 'nv12' | 'nv12-separate' | 'strided';
  /** The validShape. */
  readonly valid: readonly number[];
  /** Byte step of each valid dimension (strided), or of one image row (NV12). */
  readonly strides: readonly number[];
  readonly elementBytes: number;
  /** Elements of the dense array. */
  readonly length: number;
  /** Bytes each hbSysMem must hold. */
  readonly memBytes: readonly number[];
}

/** Properties whose layout cannot be worked out; the message says why. */
export class LayoutError extends Error {}

const dims = (s: hbDNNTensorProperties['validShape']) => s.dimensionSize.slice(0, s.numDimensions);

/** The layout of a tensor with properties `p` and elements of `element`. */
export function tensorLayout(p: hbDNNTensorProperties, element: ElementType): TensorLayout {
  const valid = dims(p.validShape);
  const aligned = dims(p.alignedShape);
  if (aligned.length !== valid.length || aligned.some((a, i) => a < valid[i]!)) {
    throw new LayoutError(
      `alignedShape (${aligned.join(', ')}) must have validShape's rank and no smaller ` +
        `dimension than validShape (${valid.join(', ')})`,
    );
  }
  const length = valid.reduce((a, b) => a * b, 1);
  if (p.tensorType === HB_DNN_IMG_TYPE_NV12 || p.tensorType === HB_DNN_IMG_TYPE_NV12_SEPARATE) {
    const [, , h, w] = valid;
    const rowStride = aligned[3]!;
    if (valid.length !== 4 || h! % 2 !== 0 || w! % 2 !== 0) {
      throw new LayoutError(
        `an NV12 tensor has validShape (1, 3, H, W) with even H and W, got (${valid.join(', ')})`,
      );
    }
    const y = h! * rowStride;
    const separate = p.tensorType === HB_DNN_IMG_TYPE_NV12_SEPARATE;
    return {
      kind: separate ? 'nv12-separate' : 'nv12',
      valid,
      strides: [rowStride],
      elementBytes: 1,
      length: (h! * w! * 3) / 2,
      memBytes: separate ? [y, y / 2] : [(y * 3) / 2],
    };
  }
  const e = element.bytes;
  const given = p.stride.slice(0, valid.length);
  let strides: number[];
  if (given.length === valid.length && given.every((s) => s > 0)) {
    strides = given;
  } else {
    strides = new Array<number>(valid.length);
    let step = e;
    for (let i = valid.length - 1; i >= 0; i--) {
      strides[i] = step;
      step *= aligned[i]!;
    }
  }
  // The last byte a valid element touches, plus one: what the memory must hold.
  const span = valid.reduce((end, d, i) => end + (d - 1) * strides[i]!, e);
  return { kind: 'strided', valid, strides, elementBytes: e, length, memBytes: [span] };
}

/** Copies the dense bytes `dense` into the tensor's memories. */
export function scatter(layout: TensorLayout, dense: Uint8Array, mems: readonly Uint8Array[]) {
  copy(layout, dense, mems, true);
}

/** Copies the tensor's memories into the dense bytes `dense`. */
export function gather(layout: TensorLayout, mems: readonly Uint8Array[], dense: Uint8Array) {
  copy(layout, dense, mems, false);
}

function copy(layout: TensorLayout, dense: Uint8Array, mems: readonly Uint8Array[], out: boolean) {
  const move = (mem: Uint8Array, at: number, from: number, n: number) => {
    if (out) mem.set(dense.subarray(from, from + n), at);
    else dense.set(mem.subarray(at, at + n), from);
  };
  if (layout.kind !== 'strided') {
    const [, , h, w] = layout.valid as [number, number, number, number];
    const stride = layout.strides[0]!;
    const yMem = mems[0]!;
    const uvMem = layout.kind === 'nv12' ? mems[0]! : mems[1]!;
    const uvBase = layout.kind === 'nv12' ? h * stride : 0;
    for (let r = 0; r < h; r++) move(yMem, r * stride, r * w, w);
    for (let r = 0; r < h / 2; r++) move(uvMem, uvBase + r * stride, h * w + r * w, w);
    return;
  }
  const { valid, strides, elementBytes: e } = layout;
  const n = valid.length;
  const last = valid[n - 1]!;
  const contiguous = strides[n - 1] === e;
  const rows = layout.length / last;
  const index = new Array<number>(n).fill(0);
  const mem = mems[0]!;
  for (let row = 0, from = 0; row < rows; row++) {
    let at = 0;
    for (let i = 0; i < n - 1; i++) at += index[i]! * strides[i]!;
    if (contiguous) {
      move(mem, at, from, last * e);
      from += last * e;
    } else {
      for (let k = 0; k < last; k++, from += e) move(mem, at + k * strides[n - 1]!, from, e);
    }
    // The next row: count up the outer indices, as an odometer does.
    for (let i = n - 2; i >= 0; i--) {
      if (++index[i]! < valid[i]!) break;
      index[i] = 0;
    }
  }
}
