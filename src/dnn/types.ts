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
/** Image: luma only (gray), one plane. */
export const HB_DNN_IMG_TYPE_Y = 0;
/** Image: NV12 in one hbSysMem (Y plane, then interleaved UV at half height). */
export const HB_DNN_IMG_TYPE_NV12 = 1;
/** Image: NV12 with Y in `sysMem[0]` and UV in `sysMem[1]`. */
export const HB_DNN_IMG_TYPE_NV12_SEPARATE = 2;
/** Image: YUV 4:4:4, three channels. */
export const HB_DNN_IMG_TYPE_YUV444 = 3;
/** Image: RGB, three channels. */
export const HB_DNN_IMG_TYPE_RGB = 4;
/** Image: BGR, three channels. */
export const HB_DNN_IMG_TYPE_BGR = 5;
/** Tensor: 4-bit signed integer elements. */
export const HB_DNN_TENSOR_TYPE_S4 = 6;
/** Tensor: 4-bit unsigned integer elements. */
export const HB_DNN_TENSOR_TYPE_U4 = 7;
/** Tensor: 8-bit signed integer elements. */
export const HB_DNN_TENSOR_TYPE_S8 = 8;
/** Tensor: 8-bit unsigned integer elements. */
export const HB_DNN_TENSOR_TYPE_U8 = 9;
/** Tensor: 16-bit float elements. */
export const HB_DNN_TENSOR_TYPE_F16 = 10;
/** Tensor: 16-bit signed integer elements. */
export const HB_DNN_TENSOR_TYPE_S16 = 11;
/** Tensor: 16-bit unsigned integer elements. */
export const HB_DNN_TENSOR_TYPE_U16 = 12;
/** Tensor: 32-bit float elements. */
export const HB_DNN_TENSOR_TYPE_F32 = 13;
/** Tensor: 32-bit signed integer elements. */
export const HB_DNN_TENSOR_TYPE_S32 = 14;
/** Tensor: 32-bit unsigned integer elements. */
export const HB_DNN_TENSOR_TYPE_U32 = 15;
/** Tensor: 64-bit float elements. */
export const HB_DNN_TENSOR_TYPE_F64 = 16;
/** Tensor: 64-bit signed integer elements. */
export const HB_DNN_TENSOR_TYPE_S64 = 17;
/** Tensor: 64-bit unsigned integer elements. */
export const HB_DNN_TENSOR_TYPE_U64 = 18;
/** One past the last data type. */
export const HB_DNN_TENSOR_TYPE_MAX = 19;
/** A value of `hbDNNDataType` (0 … 18). */
export type hbDNNDataType = number;

// hbDNNTensorLayout.
/** Channels last. */
export const HB_DNN_LAYOUT_NHWC = 0;
/** Channels first. */
export const HB_DNN_LAYOUT_NCHW = 2;
/** No layout (some X5 models report it). */
export const HB_DNN_LAYOUT_NONE = 255;
/** A value of `hbDNNTensorLayout`. */
export type hbDNNTensorLayout =
  | typeof HB_DNN_LAYOUT_NHWC
  | typeof HB_DNN_LAYOUT_NCHW
  | typeof HB_DNN_LAYOUT_NONE;

// hbDNNQuantiType: the header's names have no prefix.
/** Not quantised: the values are what `tensorType` says (usually F32). */
export const NONE = 0;
/** Quantised by shifts: `y = q / 2^shift[i]`. */
export const SHIFT = 1;
/** Quantised by scales: `y = (q - zeroPoint[i]) * scale[i]`. */
export const SCALE = 2;
/** A value of `hbDNNQuantiType`. */
export type hbDNNQuantiType = typeof NONE | typeof SHIFT | typeof SCALE;

// hbDNNTaskPriority.
/** The lowest task priority (the default). */
export const HB_DNN_PRIORITY_LOWEST = 0;
/** The highest task priority. */
export const HB_DNN_PRIORITY_HIGHEST = 255;
/** Pre-empts running tasks on the board (same value as HIGHEST). */
export const HB_DNN_PRIORITY_PREEMP = 255;

// hbDNNResizeType (libdnn up to 1.18.x).
/** Bilinear resize, the only kind `hbDNNResize` has. */
export const HB_DNN_RESIZE_TYPE_BILINEAR = 0;

// hbBPUCore / hbDSPCore (hb_sys.h).
/** Any BPU core. */
export const HB_BPU_CORE_ANY = 0;
/** BPU core 0. */
export const HB_BPU_CORE_0 = 1;
/** BPU core 1 (X3 has two cores, X5 one). */
export const HB_BPU_CORE_1 = 2;
/** Any DSP core (a placeholder on X3 and X5, which have none). */
export const HB_DSP_CORE_ANY = 0;
/** DSP core 0. */
export const HB_DSP_CORE_0 = 1;
/** DSP core 1. */
export const HB_DSP_CORE_1 = 2;

/** `hbDNNTensorShape`: `int32_t dimensionSize[8]; int32_t numDimensions`. */
export interface hbDNNTensorShape {
  /** Up to 8 sizes; only the first `numDimensions` mean anything. */
  dimensionSize: number[];
  /** How many of `dimensionSize` are used (1 … 8). */
  numDimensions: number;
}

/** `hbDNNQuantiShift`: per-channel shifts (`y = q / 2^shift`). */
export interface hbDNNQuantiShift {
  /** How many shifts: 1 (per tensor) or the size of the quantised axis. */
  shiftLen: number;
  /** The shifts, or null when there are none. */
  shiftData: Uint8Array | null;
}

/** `hbDNNQuantiScale`: per-tensor or per-axis scales and zero points (`y = (q - zp) * scale`). */
export interface hbDNNQuantiScale {
  /** How many scales: 1 (per tensor) or the size of the quantised axis. */
  scaleLen: number;
  /** The scales, or null when there are none. */
  scaleData: Float32Array | null;
  /** How many zero points (0: all zero; else equal to `scaleLen`). */
  zeroPointLen: number;
  /** The zero points, or null when there are none. */
  zeroPointData: Int8Array | null;
}

/** `hbDNNTensorProperties`, as libdnn 1.18 and later lay it out (the newest of three). */
export interface hbDNNTensorProperties {
  /** The shape of the data itself. */
  validShape: hbDNNTensorShape;
  /** The shape in memory, padding included; step through BPU outputs with this one. */
  alignedShape: hbDNNTensorShape;
  /** An `HB_DNN_LAYOUT_*` value. */
  tensorLayout: number;
  /** An `HB_DNN_IMG_TYPE_*` or `HB_DNN_TENSOR_TYPE_*` value. */
  tensorType: number;
  /** Shifts, when `quantiType` is SHIFT. */
  shift: hbDNNQuantiShift;
  /** Scales and zero points, when `quantiType` is SCALE. */
  scale: hbDNNQuantiScale;
  /** NONE, SHIFT or SCALE. */
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
  /** The tensor's memory: `sysMem[0]`, and `sysMem[1]` for NV12_SEPARATE. */
  sysMem: hbSysMem[];
  /** The properties from hbDNNGet{Input,Output}TensorProperties (an input's `alignedShape` may be set to `validShape`). */
  properties: hbDNNTensorProperties;
}

/** `hbDNNInferCtrlParam`; fill it with {@link HB_DNN_INITIALIZE_INFER_CTRL_PARAM}. */
export interface hbDNNInferCtrlParam {
  /** An `HB_BPU_CORE_*` value. */
  bpuCoreId: number;
  /** An `HB_DSP_CORE_*` value (a placeholder on X3 and X5). */
  dspCoreId: number;
  /** 0 … 255; `HB_DNN_PRIORITY_PREEMP` pre-empts on the board. */
  priority: number;
  /** Nonzero: more models follow in this task; nothing runs until a call with 0. */
  more: number | boolean;
  /** A user priority: smaller runs first (libdnn 1.18 and later). */
  customId: number;
  /** Reserved: 0. */
  reserved1: number;
  /** Reserved: 0. */
  reserved2: number;
}

/** `hbDNNResizeCtrlParam`; fill it with {@link HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM}. */
export interface hbDNNResizeCtrlParam {
  /** An `HB_BPU_CORE_*` value. */
  bpuCoreId: number;
  /** 0 … 255. */
  priority: number;
  /** `HB_DNN_RESIZE_TYPE_BILINEAR`. */
  resizeType: number;
  /** Reserved: 0. */
  reserved1: number;
  /** Reserved: 0. */
  reserved2: number;
  /** Reserved: 0. */
  reserved3: number;
  /** Reserved: 0. */
  reserved4: number;
}

/** `hbDNNRoi`: an inclusive rectangle. */
export interface hbDNNRoi {
  /** First column. */
  left: number;
  /** First row. */
  top: number;
  /** Last column (inclusive). */
  right: number;
  /** Last row (inclusive). */
  bottom: number;
}

declare const handleBrand: unique symbol;
/** An opaque handle; only a backend makes them. */
export interface OpaqueHandle<Kind extends string> {
  /** Compile-time brand only: no such property exists. */
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
  /** Set by the call on success; left as it was on failure. */
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
