/**
 * The byte layouts of the hbDNN structs in the three generations libdnn has had, and their
 * encoding and decoding. Pure: it reads and writes DataViews, and reads library memory only
 * through the function it is given, so it is tested without koffi.
 *
 * | generation | libdnn      | properties | tensor | what changed                                  |
 * |------------|-------------|-----------:|-------:|-----------------------------------------------|
 * | A          | 1.6.1       | 120 B      | 216 B  |                                               |
 * | B          | 1.9.x       | 136 B      | 232 B  | zero points in hbDNNQuantiScale               |
 * | C          | 1.18 - 1.24 | 176 B      | 272 B  | quantizeAxis, alignedByteSize at 136, strides |
 *
 * In generation C `hbDNNInferCtrlParam` also carries an `int64_t customId` (so it aligns to
 * 8); it is 32 bytes in all three. The boards are 64-bit little-endian (aarch64 LP64), and
 * x86-64 lays these structs out identically.
 */

import type { InferCtrlSnapshot, ResizeCtrlSnapshot } from '../dnn/backend.js';
import {
  HB_DNN_TENSOR_MAX_DIMENSIONS,
  type hbDNNRoi,
  type hbDNNTensorProperties,
  type hbDNNTensorShape,
} from '../dnn/types.js';

/** A struct generation of libdnn. */
export type DnnGeneration = 'A' | 'B' | 'C';

/** Where the fields that moved between generations are, and the sizes. */
export interface DnnLayout {
  readonly generation: DnnGeneration;
  readonly propertiesSize: number;
  /** `hbSysMem sysMem[4]` (96 B) then the properties. */
  readonly tensorSize: number;
  readonly quantiType: number;
  readonly alignedByteSize: number;
  /** Offsets of the zero points (B and C). */
  readonly zeroPoints: boolean;
  /** `quantizeAxis` (C only). */
  readonly quantizeAxis: number | undefined;
  /** `int32_t stride[8]` (C only). */
  readonly stride: number | undefined;
  /** `hbDNNInferCtrlParam` has `int64_t customId` at 16 (C only). */
  readonly customId: boolean;
}

export const LAYOUTS: Readonly<Record<DnnGeneration, DnnLayout>> = {
  A: {
    generation: 'A',
    propertiesSize: 120,
    tensorSize: 216,
    quantiType: 112,
    alignedByteSize: 116,
    zeroPoints: false,
    quantizeAxis: undefined,
    stride: undefined,
    customId: false,
  },
  B: {
    generation: 'B',
    propertiesSize: 136,
    tensorSize: 232,
    quantiType: 128,
    alignedByteSize: 132,
    zeroPoints: true,
    quantizeAxis: undefined,
    stride: undefined,
    customId: false,
  },
  C: {
    generation: 'C',
    propertiesSize: 176,
    tensorSize: 272,
    quantiType: 128,
    alignedByteSize: 136,
    zeroPoints: true,
    quantizeAxis: 132,
    stride: 140,
    customId: true,
  },
};

// Offsets that every generation shares.
export const VALID_SHAPE = 0;
export const ALIGNED_SHAPE = 36;
export const TENSOR_LAYOUT = 72;
export const TENSOR_TYPE = 76;
export const SHIFT_LEN = 80;
export const SHIFT_DATA = 88;
export const SCALE_LEN = 96;
export const SCALE_DATA = 104;
export const ZERO_POINT_LEN = 112;
export const ZERO_POINT_DATA = 120;
/** `hbSysMem`: phyAddr@0, virAddr@8, memSize@16, 24 bytes. */
export const SYS_MEM_SIZE = 24;
export const TENSOR_SYS_MEM_COUNT = 4;
export const TENSOR_PROPERTIES = SYS_MEM_SIZE * TENSOR_SYS_MEM_COUNT;
export const INFER_CTRL_SIZE = 32;
export const ROI_SIZE = 16;
export const RESIZE_CTRL_SIZE = 28;
/** The largest size of any generation's properties: what a probe must leave room for. */
export const MAX_PROPERTIES_SIZE = 176;

/** More quantisation values than any tensor has channels: a length above it is garbage. */
export const MAX_QUANT_LENGTH = 1 << 20;

const LE = true;

/** A copy of `bytes` bytes of library memory at `address`. */
export type ReadNative = (address: bigint, bytes: number) => Uint8Array;

/** The CPU pointer, physical address and size of one `hbSysMem`, as C will see it. */
export interface SysMemFields {
  readonly phyAddr: bigint;
  readonly virAddr: bigint;
  readonly memSize: number;
}

function readShape(view: DataView, at: number): hbDNNTensorShape | string {
  const numDimensions = view.getInt32(at + 32, LE);
  if (numDimensions < 0 || numDimensions > HB_DNN_TENSOR_MAX_DIMENSIONS) {
    return `numDimensions is ${numDimensions}`;
  }
  const dimensionSize: number[] = [];
  for (let i = 0; i < numDimensions; i++) dimensionSize.push(view.getInt32(at + 4 * i, LE));
  return { dimensionSize, numDimensions };
}

function readArray<T>(
  length: number,
  address: bigint,
  elementBytes: number,
  read: ReadNative,
  make: (buffer: ArrayBuffer) => T,
): T | null {
  if (length === 0 || address === 0n) return null;
  const bytes = read(address, length * elementBytes);
  // A fresh buffer, so a Float32Array is aligned whatever the library's address was.
  return make(bytes.slice().buffer);
}

/**
 * Properties as libdnn wrote them at `offset`, in `layout`, with the quantisation arrays
 * copied out of library memory. A string says what looks corrupted instead (the sign of a
 * layout that does not match the library).
 */
export function decodeProperties(
  view: DataView,
  offset: number,
  layout: DnnLayout,
  read: ReadNative,
): hbDNNTensorProperties | string {
  const validShape = readShape(view, offset + VALID_SHAPE);
  if (typeof validShape === 'string') return `validShape.${validShape}`;
  const alignedShape = readShape(view, offset + ALIGNED_SHAPE);
  if (typeof alignedShape === 'string') return `alignedShape.${alignedShape}`;
  const shiftLen = view.getInt32(offset + SHIFT_LEN, LE);
  const scaleLen = view.getInt32(offset + SCALE_LEN, LE);
  const zeroPointLen = layout.zeroPoints ? view.getInt32(offset + ZERO_POINT_LEN, LE) : 0;
  for (const [name, n] of [
    ['shiftLen', shiftLen],
    ['scaleLen', scaleLen],
    ['zeroPointLen', zeroPointLen],
  ] as const) {
    if (n < 0 || n > MAX_QUANT_LENGTH) return `${name} is ${n}`;
  }
  const pointer = (at: number) => view.getBigUint64(offset + at, LE);
  const stride: number[] = [];
  for (let i = 0; i < validShape.numDimensions; i++) {
    stride.push(
      layout.stride === undefined ? 0 : view.getInt32(offset + layout.stride + 4 * i, LE),
    );
  }
  return {
    validShape,
    alignedShape,
    tensorLayout: view.getInt32(offset + TENSOR_LAYOUT, LE),
    tensorType: view.getInt32(offset + TENSOR_TYPE, LE),
    shift: {
      shiftLen,
      shiftData: readArray(shiftLen, pointer(SHIFT_DATA), 1, read, (b) => new Uint8Array(b)),
    },
    scale: {
      scaleLen,
      scaleData: readArray(scaleLen, pointer(SCALE_DATA), 4, read, (b) => new Float32Array(b)),
      zeroPointLen,
      zeroPointData: layout.zeroPoints
        ? readArray(zeroPointLen, pointer(ZERO_POINT_DATA), 1, read, (b) => new Int8Array(b))
        : null,
    },
    quantiType: view.getInt32(offset + layout.quantiType, LE),
    quantizeAxis:
      layout.quantizeAxis === undefined ? 0 : view.getInt32(offset + layout.quantizeAxis, LE),
    alignedByteSize: view.getInt32(offset + layout.alignedByteSize, LE),
    stride,
  };
}

/** The quantisation arrays of some properties, as C will read them: lengths in elements. */
export interface QuantArrays {
  readonly shift: Uint8Array;
  readonly scale: Uint8Array;
  readonly zeroPoint: Uint8Array;
}

/**
 * The bytes C reads behind `shiftData`, `scaleData` and `zeroPointData`: exactly `len`
 * elements each, padded with zeros where the caller's array is shorter than its length, so
 * that C never reads past what hbsys placed. Lengths must already be checked (0 … 2^20).
 */
export function quantArrays(p: Readonly<hbDNNTensorProperties>, layout: DnnLayout): QuantArrays {
  const copy = (len: number, elementBytes: number, data: ArrayBufferView | null) => {
    if (len === 0) return NO_BYTES;
    const out = new Uint8Array(len * elementBytes);
    if (data !== null) {
      const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      out.set(src.subarray(0, out.length));
    }
    return out;
  };
  return {
    shift: copy(p.shift.shiftLen, 1, p.shift.shiftData),
    scale: copy(p.scale.scaleLen, 4, p.scale.scaleData),
    zeroPoint: layout.zeroPoints ? copy(p.scale.zeroPointLen, 1, p.scale.zeroPointData) : NO_BYTES,
  };
}

/** Shared by every tensor without quantisation arrays (it is only ever read). */
const NO_BYTES = new Uint8Array(0);

function writeShape(view: DataView, at: number, shape: Readonly<hbDNNTensorShape>): void {
  for (let i = 0; i < HB_DNN_TENSOR_MAX_DIMENSIONS; i++) {
    view.setInt32(at + 4 * i, shape.dimensionSize[i] ?? 0, LE);
  }
  view.setInt32(at + 32, shape.numDimensions, LE);
}

/** Where the quantisation arrays of one tensor were placed in native memory (0: none). */
export interface QuantAddresses {
  readonly shift: bigint;
  readonly scale: bigint;
  readonly zeroPoint: bigint;
}

/** Writes `p` at `offset` in `layout`; the arrays are already in native memory. */
export function encodeProperties(
  view: DataView,
  offset: number,
  layout: DnnLayout,
  p: Readonly<hbDNNTensorProperties>,
  arrays: QuantAddresses,
): void {
  new Uint8Array(view.buffer, view.byteOffset + offset, layout.propertiesSize).fill(0);
  writeShape(view, offset + VALID_SHAPE, p.validShape);
  writeShape(view, offset + ALIGNED_SHAPE, p.alignedShape);
  view.setInt32(offset + TENSOR_LAYOUT, p.tensorLayout, LE);
  view.setInt32(offset + TENSOR_TYPE, p.tensorType, LE);
  view.setInt32(offset + SHIFT_LEN, p.shift.shiftLen, LE);
  view.setBigUint64(offset + SHIFT_DATA, arrays.shift, LE);
  view.setInt32(offset + SCALE_LEN, p.scale.scaleLen, LE);
  view.setBigUint64(offset + SCALE_DATA, arrays.scale, LE);
  if (layout.zeroPoints) {
    view.setInt32(offset + ZERO_POINT_LEN, p.scale.zeroPointLen, LE);
    view.setBigUint64(offset + ZERO_POINT_DATA, arrays.zeroPoint, LE);
  }
  view.setInt32(offset + layout.quantiType, p.quantiType, LE);
  if (layout.quantizeAxis !== undefined) {
    view.setInt32(offset + layout.quantizeAxis, p.quantizeAxis, LE);
  }
  view.setInt32(offset + layout.alignedByteSize, p.alignedByteSize, LE);
  if (layout.stride !== undefined) {
    for (let i = 0; i < HB_DNN_TENSOR_MAX_DIMENSIONS; i++) {
      view.setInt32(offset + layout.stride + 4 * i, p.stride[i] ?? 0, LE);
    }
  }
}

/** Writes one `hbSysMem` (the unused ones of a tensor stay zero). */
export function encodeSysMem(view: DataView, offset: number, mem: SysMemFields): void {
  view.setBigUint64(offset, mem.phyAddr, LE);
  view.setBigUint64(offset + 8, mem.virAddr, LE);
  view.setUint32(offset + 16, mem.memSize, LE);
  view.setUint32(offset + 20, 0, LE);
}

/** Writes `hbDNNInferCtrlParam` (32 bytes; reserved fields zero). */
export function encodeInferCtrl(
  view: DataView,
  offset: number,
  layout: DnnLayout,
  ctrl: InferCtrlSnapshot,
): void {
  new Uint8Array(view.buffer, view.byteOffset + offset, INFER_CTRL_SIZE).fill(0);
  view.setInt32(offset, ctrl.bpuCoreId, LE);
  view.setInt32(offset + 4, ctrl.dspCoreId, LE);
  view.setInt32(offset + 8, ctrl.priority, LE);
  view.setInt32(offset + 12, ctrl.more ? 1 : 0, LE);
  if (layout.customId) view.setBigInt64(offset + 16, BigInt(ctrl.customId), LE);
}

/** Writes `hbDNNRoi` (16 bytes). */
export function encodeRoi(view: DataView, offset: number, roi: Readonly<hbDNNRoi>): void {
  view.setInt32(offset, roi.left, LE);
  view.setInt32(offset + 4, roi.top, LE);
  view.setInt32(offset + 8, roi.right, LE);
  view.setInt32(offset + 12, roi.bottom, LE);
}

/** Writes `hbDNNResizeCtrlParam` (28 bytes; reserved fields zero). */
export function encodeResizeCtrl(view: DataView, offset: number, ctrl: ResizeCtrlSnapshot): void {
  new Uint8Array(view.buffer, view.byteOffset + offset, RESIZE_CTRL_SIZE).fill(0);
  view.setInt32(offset, ctrl.bpuCoreId, LE);
  view.setInt32(offset + 4, ctrl.priority, LE);
  view.setInt32(offset + 8, ctrl.resizeType, LE);
}
