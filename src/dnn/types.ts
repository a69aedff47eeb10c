/**
 * The types, enums and constants of `dnn/hb_dnn.h`, as TypeScript sees them.
 *
 * Conventions, as `hbSysMem` sets them:
 * - a struct out-parameter (`hbDNNTensorProperties *`) is a plain object that the call fills;
 * - a pointer out-parameter (`hbDNNHandle_t *`, `int32_t *`, `const char ***`) is a plain
 *   object whose `value` the call sets ({@link hbDNNOut});
 * - handles are opaque objects made by the backend; they cannot be forged from numbers.
 *
 * The numeric values are the header's (libdnn 1.6.1 … 1.24.5 agree on all of them).
 */

import type { hbSysMem } from '../mem.js';

/** `HB_DNN_TENSOR_MAX_DIMENSIONS`. */
export const HB_DNN_TENSOR_MAX_DIMENSIONS = 8;
/** At most this many `hbSysMem` per tensor (`hbSysMem sysMem[4]`). */
export const HB_DNN_TENSOR_MAX_SYS_MEM = 4;
/** At most this many model tasks live at once on the board. */
export const HB_DNN_MAX_LIVE_TASKS = 32;
/** At most this many small models batched into one task with `more`. */
export const HB_DNN_MAX_BATCHED_MODELS = 255;

// hbDNNDataType: image types, then tensor types (no explicit values in the header).
export const HB_DNN_IMG_TYPE_Y = 0;
export const HB_DNN_IMG_TYPE_NV12 = 1;
export const HB_DNN_IMG_TYPE_NV12_SEPARATE = 2;
export const HB_DNN_IMG_TYPE_YUV444 = 3;
export const HB_DNN_IMG_TYPE_RGB = 4;
export const HB_DNN_IMG_TYPE_BGR = 5;
export const HB_DNN_TENSOR_TYPE_S4 = 6;
export const HB_DNN_TENSOR_TYPE_U4 = 7;
export const HB_DNN_TENSOR_TYPE_S8 = 8;
export const HB_DNN_TENSOR_TYPE_U8 = 9;
export const HB_DNN_TENSOR_TYPE_F16 = 10;
export const HB_DNN_TENSOR_TYPE_S16 = 11;
export const HB_DNN_TENSOR_TYPE_U16 = 12;
export const HB_DNN_TENSOR_TYPE_F32 = 13;
export const HB_DNN_TENSOR_TYPE_S32 = 14;
export const HB_DNN_TENSOR_TYPE_U32 = 15;
export const HB_DNN_TENSOR_TYPE_F64 = 16;
export const HB_DNN_TENSOR_TYPE_S64 = 17;
export const HB_DNN_TENSOR_TYPE_U64 = 18;
export const HB_DNN_TENSOR_TYPE_MAX = 19;
/** A value of `hbDNNDataType` (0 … 18). */
export type hbDNNDataType = number;

// hbDNNTensorLayout.
export const HB_DNN_LAYOUT_NHWC = 0;
export const HB_DNN_LAYOUT_NCHW = 2;
export const HB_DNN_LAYOUT_NONE = 255;
/** A value of `hbDNNTensorLayout`. */
export type hbDNNTensorLayout =
  | typeof HB_DNN_LAYOUT_NHWC
  | typeof HB_DNN_LAYOUT_NCHW
  | typeof HB_DNN_LAYOUT_NONE;

// hbDNNQuantiType: the header's names have no prefix.
export const NONE = 0;
export const SHIFT = 1;
export const SCALE = 2;
/** A value of `hbDNNQuantiType`. */
export type hbDNNQuantiType = typeof NONE | typeof SHIFT | typeof SCALE;

// hbDNNTaskPriority.
export const HB_DNN_PRIORITY_LOWEST = 0;
export const HB_DNN_PRIORITY_HIGHEST = 255;
export const HB_DNN_PRIORITY_PREEMP = 255;

// hbDNNResizeType (libdnn up to 1.18.x).
export const HB_DNN_RESIZE_TYPE_BILINEAR = 0;

// hbBPUCore / hbDSPCore (hb_sys.h).
export const HB_BPU_CORE_ANY = 0;
export const HB_BPU_CORE_0 = 1;
export const HB_BPU_CORE_1 = 2;
export const HB_DSP_CORE_ANY = 0;
export const HB_DSP_CORE_0 = 1;
export const HB_DSP_CORE_1 = 2;

/** `hbDNNTensorShape`: `int32_t dimensionSize[8]; int32_t numDimensions`. */
export interface hbDNNTensorShape {
  /** Up to 8 sizes; only the first `numDimensions` mean anything. */
  dimensionSize: number[];
  numDimensions: number;
}

/** `hbDNNQuantiShift`: per-channel shifts (`y = q / 2^shift`). */
export interface hbDNNQuantiShift {
  shiftLen: number;
  shiftData: Uint8Array | null;
}

/** `hbDNNQuantiScale`: per-tensor or per-axis scales and zero points (`y = (q - zp) * scale`). */
export interface hbDNNQuantiScale {
  scaleLen: number;
  scaleData: Float32Array | null;
  zeroPointLen: number;
  zeroPointData: Int8Array | null;
}

/** `hbDNNTensorProperties`, as libdnn 1.18 and later lay it out (the newest of three). */
export interface hbDNNTensorProperties {
  validShape: hbDNNTensorShape;
  alignedShape: hbDNNTensorShape;
  tensorLayout: number;
  tensorType: number;
  shift: hbDNNQuantiShift;
  scale: hbDNNQuantiScale;
  quantiType: number;
  /** The axis of per-axis quantisation (libdnn 1.18 and later; 0 elsewhere). */
  quantizeAxis: number;
  /** Bytes the tensor's memory must hold: allocate `sysMem[0]` with at least this many. */
  alignedByteSize: number;
  /** Byte step of each dimension of `validShape` (libdnn 1.18 and later; zeros elsewhere). */
  stride: number[];
}

/** `hbDNNTensor`: up to four hbSysMem (NV12_SEPARATE uses two) and the properties. */
export interface hbDNNTensor {
  sysMem: hbSysMem[];
  properties: hbDNNTensorProperties;
}

/** `hbDNNInferCtrlParam`; fill it with {@link HB_DNN_INITIALIZE_INFER_CTRL_PARAM}. */
export interface hbDNNInferCtrlParam {
  bpuCoreId: number;
  dspCoreId: number;
  priority: number;
  /** Nonzero: more models follow in this task; nothing runs until a call with 0. */
  more: number | boolean;
  /** A user priority: smaller runs first (libdnn 1.18 and later). */
  customId: number;
  reserved1: number;
  reserved2: number;
}

/** `hbDNNResizeCtrlParam`; fill it with {@link HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM}. */
export interface hbDNNResizeCtrlParam {
  bpuCoreId: number;
  priority: number;
  resizeType: number;
  reserved1: number;
  reserved2: number;
  reserved3: number;
  reserved4: number;
}

/** `hbDNNRoi`: an inclusive rectangle. */
export interface hbDNNRoi {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

declare const handleBrand: unique symbol;
/** An opaque handle; only a backend makes them. */
export interface OpaqueHandle<Kind extends string> {
  readonly [handleBrand]: Kind;
}
/** `hbPackedDNNHandle_t`: every model of the files passed to one initialize call. */
export type hbPackedDNNHandle_t = OpaqueHandle<'hbPackedDNNHandle_t'>;
/** `hbDNNHandle_t`: one model. */
export type hbDNNHandle_t = OpaqueHandle<'hbDNNHandle_t'>;
/** `hbDNNTaskHandle_t`: one submitted task (inference or resize). */
export type hbDNNTaskHandle_t = OpaqueHandle<'hbDNNTaskHandle_t'>;

/** A pointer out-parameter: the call sets `value`, as C sets `*p`. */
export interface hbDNNOut<T> {
  value?: T;
}

/** `HB_DNN_INITIALIZE_INFER_CTRL_PARAM(&param)`: sets every field to its default (0). */
export function HB_DNN_INITIALIZE_INFER_CTRL_PARAM(param: Partial<hbDNNInferCtrlParam>): void {
  param.bpuCoreId = HB_BPU_CORE_ANY;
  param.dspCoreId = HB_DSP_CORE_ANY;
  param.priority = HB_DNN_PRIORITY_LOWEST;
  param.more = 0;
  param.customId = 0;
  param.reserved1 = 0;
  param.reserved2 = 0;
}

/** `HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM(&param)`: bilinear, any core, lowest priority. */
export function HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM(param: Partial<hbDNNResizeCtrlParam>): void {
  param.bpuCoreId = HB_BPU_CORE_ANY;
  param.priority = HB_DNN_PRIORITY_LOWEST;
  param.resizeType = HB_DNN_RESIZE_TYPE_BILINEAR;
  param.reserved1 = 0;
  param.reserved2 = 0;
  param.reserved3 = 0;
  param.reserved4 = 0;
}
