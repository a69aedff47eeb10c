/**
 * One read of a caller's hbDNN objects (tensors, their properties, control parameters),
 * checked for shape: every field is read exactly once into a frozen copy, so that no
 * getter, Proxy or later change can make the value used differ from the value checked.
 * Each reader returns the copy, or a message that says what is wrong and what to do.
 */

import { describe } from '../describe.js';
import { snapshotMem } from '../snapshot.js';
import type { InferCtrlSnapshot, ResizeCtrlSnapshot, TensorSnapshot } from './backend.js';
import {
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_LAYOUT_NHWC,
  HB_DNN_LAYOUT_NONE,
  HB_DNN_RESIZE_TYPE_BILINEAR,
  HB_DNN_TENSOR_MAX_DIMENSIONS,
  HB_DNN_TENSOR_MAX_SYS_MEM,
  HB_DNN_TENSOR_TYPE_MAX,
  type hbDNNRoi,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  type hbDNNTensorShape,
} from './types.js';

/** A message: what was wrong, for the caller. */
export class ReadError extends Error {}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

/** `o[key]`, read once; a throwing getter or Proxy trap becomes a ReadError. */
function field(o: Record<string, unknown>, key: string, where: string): unknown {
  try {
    return o[key];
  } catch (error) {
    throw new ReadError(
      `reading ${where}.${key} threw: ${(error as Error)?.message ?? String(error)}`,
    );
  }
}

function int(v: unknown, where: string, min: number, max: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ReadError(`${where} must be an integer in ${min} … ${max}, got ${describe(v)}`);
  }
  return v;
}

/** Up to `max` elements of an array, each read once. */
export function readArray(v: unknown, where: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw new ReadError(`${where} must be an array, got ${describe(v)}`);
  const n = field(v as unknown as Record<string, unknown>, 'length', where) as number;
  if (n > max) throw new ReadError(`${where} has ${n} elements; at most ${max} are allowed`);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++)
    out.push(field(v as unknown as Record<string, unknown>, String(i), where));
  return out;
}

function readShape(v: unknown, where: string): hbDNNTensorShape {
  if (!isObject(v)) {
    throw new ReadError(
      `${where} must be { dimensionSize: number[], numDimensions }, got ${describe(v)}`,
    );
  }
  const sizes = readArray(field(v, 'dimensionSize', where), `${where}.dimensionSize`, 64);
  const n = int(
    field(v, 'numDimensions', where),
    `${where}.numDimensions`,
    1,
    HB_DNN_TENSOR_MAX_DIMENSIONS,
  );
  if (sizes.length < n) {
    throw new ReadError(`${where}.dimensionSize has ${sizes.length} sizes for numDimensions ${n}`);
  }
  const dims = new Array<number>(HB_DNN_TENSOR_MAX_DIMENSIONS).fill(0);
  for (let i = 0; i < n; i++)
    dims[i] = int(sizes[i], `${where}.dimensionSize[${i}]`, 1, 0x7fff_ffff);
  return { dimensionSize: dims, numDimensions: n };
}

/** A deep, checked copy of `hbDNNTensorProperties`. */
export function readProperties(v: unknown, where: string): hbDNNTensorProperties {
  if (!isObject(v)) {
    throw new ReadError(
      `${where} must be hbDNNTensorProperties (fill it with hbDNNGet…TensorProperties), got ${describe(v)}`,
    );
  }
  const validShape = readShape(field(v, 'validShape', where), `${where}.validShape`);
  const alignedShape = readShape(field(v, 'alignedShape', where), `${where}.alignedShape`);
  const tensorLayout = int(field(v, 'tensorLayout', where), `${where}.tensorLayout`, 0, 255);
  if (![HB_DNN_LAYOUT_NHWC, HB_DNN_LAYOUT_NCHW, HB_DNN_LAYOUT_NONE].includes(tensorLayout)) {
    throw new ReadError(
      `${where}.tensorLayout must be NHWC (0), NCHW (2) or NONE (255), got ${tensorLayout}`,
    );
  }
  const tensorType = int(
    field(v, 'tensorType', where),
    `${where}.tensorType`,
    0,
    HB_DNN_TENSOR_TYPE_MAX - 1,
  );
  const quantiType = int(field(v, 'quantiType', where), `${where}.quantiType`, 0, 2, 0);
  const quantizeAxis = int(field(v, 'quantizeAxis', where), `${where}.quantizeAxis`, 0, 7, 0);
  const alignedByteSize = int(
    field(v, 'alignedByteSize', where),
    `${where}.alignedByteSize`,
    0,
    0x7fff_ffff,
    0,
  );
  const strideIn = field(v, 'stride', where);
  const stride = new Array<number>(HB_DNN_TENSOR_MAX_DIMENSIONS).fill(0);
  if (strideIn !== undefined) {
    const s = readArray(strideIn, `${where}.stride`, HB_DNN_TENSOR_MAX_DIMENSIONS);
    for (const [i, x] of s.entries())
      stride[i] = int(x, `${where}.stride[${i}]`, -0x8000_0000, 0x7fff_ffff);
  }
  const shift = readQuantiShift(field(v, 'shift', where), `${where}.shift`);
  const scale = readQuantiScale(field(v, 'scale', where), `${where}.scale`);
  return {
    validShape,
    alignedShape,
    tensorLayout,
    tensorType,
    shift,
    scale,
    quantiType,
    quantizeAxis,
    alignedByteSize,
    stride,
  };
}

function readQuantiShift(v: unknown, where: string): hbDNNTensorProperties['shift'] {
  if (v === undefined || v === null) return { shiftLen: 0, shiftData: null };
  if (!isObject(v))
    throw new ReadError(`${where} must be { shiftLen, shiftData }, got ${describe(v)}`);
  const shiftLen = int(field(v, 'shiftLen', where), `${where}.shiftLen`, 0, 0x7fff_ffff, 0);
  const data = field(v, 'shiftData', where);
  if (data !== null && data !== undefined && !(data instanceof Uint8Array)) {
    throw new ReadError(`${where}.shiftData must be a Uint8Array or null`);
  }
  return { shiftLen, shiftData: data instanceof Uint8Array ? data.slice() : null };
}

function readQuantiScale(v: unknown, where: string): hbDNNTensorProperties['scale'] {
  if (v === undefined || v === null) {
    return { scaleLen: 0, scaleData: null, zeroPointLen: 0, zeroPointData: null };
  }
  if (!isObject(v))
    throw new ReadError(`${where} must be { scaleLen, scaleData, … }, got ${describe(v)}`);
  const scaleLen = int(field(v, 'scaleLen', where), `${where}.scaleLen`, 0, 0x7fff_ffff, 0);
  const scaleData = field(v, 'scaleData', where);
  const zeroPointLen = int(
    field(v, 'zeroPointLen', where),
    `${where}.zeroPointLen`,
    0,
    0x7fff_ffff,
    0,
  );
  const zeroPointData = field(v, 'zeroPointData', where);
  if (scaleData !== null && scaleData !== undefined && !(scaleData instanceof Float32Array)) {
    throw new ReadError(`${where}.scaleData must be a Float32Array or null`);
  }
  if (
    zeroPointData !== null &&
    zeroPointData !== undefined &&
    !(zeroPointData instanceof Int8Array)
  ) {
    throw new ReadError(`${where}.zeroPointData must be an Int8Array or null`);
  }
  return {
    scaleLen,
    scaleData: scaleData instanceof Float32Array ? scaleData.slice() : null,
    zeroPointLen,
    zeroPointData: zeroPointData instanceof Int8Array ? zeroPointData.slice() : null,
  };
}

/** One `hbDNNTensor`: 1 … 4 hbSysMem snapshots and a copy of the properties. */
export function readTensor(v: unknown, where: string): TensorSnapshot {
  if (!isObject(v) || Array.isArray(v)) {
    throw new ReadError(
      `${where} must be an hbDNNTensor { sysMem: hbSysMem[], properties }, got ${describe(v)}`,
    );
  }
  const sysMemIn = field(v, 'sysMem', where);
  const propertiesIn = field(v, 'properties', where);
  const list = readArray(sysMemIn, `${where}.sysMem`, HB_DNN_TENSOR_MAX_SYS_MEM);
  if (list.length === 0) {
    throw new ReadError(
      `${where}.sysMem is empty: allocate sysMem[0] with hbSysAllocCachedMem(tensor.sysMem[0], properties.alignedByteSize)`,
    );
  }
  const sysMem = list.map((m, i) => {
    if (!isObject(m))
      throw new ReadError(`${where}.sysMem[${i}] must be an hbSysMem, got ${describe(m)}`);
    const s = snapshotMem(m as never);
    if ('error' in s) throw new ReadError(`reading ${where}.sysMem[${i}] threw: ${s.error}`);
    return s;
  });
  const properties = readProperties(propertiesIn, `${where}.properties`);
  return Object.freeze({
    sysMem: Object.freeze(sysMem),
    properties,
    source: v as unknown as hbDNNTensor,
  });
}

/** `hbDNNInferCtrlParam`, read once. */
export function readInferCtrl(v: unknown, where: string): InferCtrlSnapshot {
  if (!isObject(v)) {
    throw new ReadError(
      `${where} must be an hbDNNInferCtrlParam filled by HB_DNN_INITIALIZE_INFER_CTRL_PARAM, got ${describe(v)}`,
    );
  }
  const bpuCoreId = int(field(v, 'bpuCoreId', where), `${where}.bpuCoreId`, 0, 2);
  const dspCoreId = int(field(v, 'dspCoreId', where), `${where}.dspCoreId`, 0, 2, 0);
  const priority = int(field(v, 'priority', where), `${where}.priority`, 0, 255);
  const moreIn = field(v, 'more', where);
  let more: boolean;
  if (typeof moreIn === 'boolean') more = moreIn;
  else more = int(moreIn, `${where}.more`, 0, 1) === 1;
  const customId = int(field(v, 'customId', where), `${where}.customId`, -(2 ** 53), 2 ** 53, 0);
  return Object.freeze({ bpuCoreId, dspCoreId, priority, more, customId });
}

/** `hbDNNResizeCtrlParam`, read once. */
export function readResizeCtrl(v: unknown, where: string): ResizeCtrlSnapshot {
  if (!isObject(v)) {
    throw new ReadError(
      `${where} must be an hbDNNResizeCtrlParam filled by HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM, got ${describe(v)}`,
    );
  }
  const bpuCoreId = int(field(v, 'bpuCoreId', where), `${where}.bpuCoreId`, 0, 2);
  const priority = int(field(v, 'priority', where), `${where}.priority`, 0, 255);
  const resizeType = int(field(v, 'resizeType', where), `${where}.resizeType`, 0, 0x7fff_ffff);
  if (resizeType !== HB_DNN_RESIZE_TYPE_BILINEAR) {
    throw new ReadError(
      `${where}.resizeType must be HB_DNN_RESIZE_TYPE_BILINEAR (0), got ${resizeType}`,
    );
  }
  return Object.freeze({ bpuCoreId, priority, resizeType });
}

/** `hbDNNRoi` or null (the whole image), read once. */
export function readRoi(v: unknown, where: string): Readonly<hbDNNRoi> | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v))
    throw new ReadError(
      `${where} must be { left, top, right, bottom } or null, got ${describe(v)}`,
    );
  const r = {
    left: int(field(v, 'left', where), `${where}.left`, -0x8000_0000, 0x7fff_ffff),
    top: int(field(v, 'top', where), `${where}.top`, -0x8000_0000, 0x7fff_ffff),
    right: int(field(v, 'right', where), `${where}.right`, -0x8000_0000, 0x7fff_ffff),
    bottom: int(field(v, 'bottom', where), `${where}.bottom`, -0x8000_0000, 0x7fff_ffff),
  };
  return Object.freeze(r);
}
