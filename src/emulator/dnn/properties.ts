/**
 * The compiled model's interface, as the board reports it, from the ONNX graph and the
 * conversion config. Alignment rules the emulator implements:
 *
 * - NV12 input (`input_type_rt: nv12`): IMG_TYPE_NV12, NCHW, validShape = alignedShape =
 *   (1, 3, H, W), alignedByteSize = H·W·3/2, strides 0 (NV12 only needs its row stride,
 *   which the caller may widen by setting alignedShape's W). H and W must be even.
 * - Gray input: IMG_TYPE_Y, NCHW (1, 1, H, W), alignedShape W rounded up to 16, so
 *   alignedByteSize = H·ALIGN_16(W); strides 0.
 * - RGB / BGR / YUV444 input: that image type, in `input_layout_rt`, aligned = valid,
 *   H·W·3 bytes, contiguous byte strides.
 * - Feature-map inputs and every output: the ONNX element type (float32 → TENSOR_TYPE_F32),
 *   quantiType NONE, aligned = valid, contiguous byte strides. This is what the board
 *   reports when the model ends in CPU operators (Dequantize kept), the usual case. Layout:
 *   4-D shapes whose two middle dimensions are equal and differ from the last are NHWC, other
 *   4-D shapes NCHW, other ranks NONE.
 */

import type { hbDNNTensorProperties } from '../../dnn/types.js';
import {
  HB_DNN_IMG_TYPE_BGR,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_RGB,
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_IMG_TYPE_YUV444,
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_LAYOUT_NHWC,
  HB_DNN_LAYOUT_NONE,
  HB_DNN_TENSOR_MAX_DIMENSIONS,
  HB_DNN_TENSOR_TYPE_F16,
  HB_DNN_TENSOR_TYPE_F32,
  HB_DNN_TENSOR_TYPE_F64,
  HB_DNN_TENSOR_TYPE_S8,
  HB_DNN_TENSOR_TYPE_S16,
  HB_DNN_TENSOR_TYPE_S32,
  HB_DNN_TENSOR_TYPE_S64,
  HB_DNN_TENSOR_TYPE_U8,
  HB_DNN_TENSOR_TYPE_U16,
  HB_DNN_TENSOR_TYPE_U32,
  HB_DNN_TENSOR_TYPE_U64,
  NONE,
} from '../../dnn/types.js';
import type { InputConfig } from './config.js';
import { ORT_TYPE_BYTES, type OrtType } from './messages.js';
import type { OnnxValue } from './onnx-io.js';
import type { ImageStage, Layout } from './preprocess.js';

/** ONNX `TensorProto.DataType` → the runtime's type name and the board's tensor type. */
const ELEMENT_TYPES: ReadonlyMap<number, { ort: OrtType; hb: number }> = new Map([
  [1, { ort: 'float32', hb: HB_DNN_TENSOR_TYPE_F32 }],
  [2, { ort: 'uint8', hb: HB_DNN_TENSOR_TYPE_U8 }],
  [3, { ort: 'int8', hb: HB_DNN_TENSOR_TYPE_S8 }],
  [4, { ort: 'uint16', hb: HB_DNN_TENSOR_TYPE_U16 }],
  [5, { ort: 'int16', hb: HB_DNN_TENSOR_TYPE_S16 }],
  [6, { ort: 'int32', hb: HB_DNN_TENSOR_TYPE_S32 }],
  [7, { ort: 'int64', hb: HB_DNN_TENSOR_TYPE_S64 }],
  [9, { ort: 'bool', hb: HB_DNN_TENSOR_TYPE_U8 }],
  [10, { ort: 'float16', hb: HB_DNN_TENSOR_TYPE_F16 }],
  [11, { ort: 'float64', hb: HB_DNN_TENSOR_TYPE_F64 }],
  [12, { ort: 'uint32', hb: HB_DNN_TENSOR_TYPE_U32 }],
  [13, { ort: 'uint64', hb: HB_DNN_TENSOR_TYPE_U64 }],
]);

/** A model input: its properties and how the BPU feeds it to the ONNX graph. */
export interface InputInterface {
  readonly name: string;
  readonly properties: hbDNNTensorProperties;
  readonly ort: OrtType;
  /** The ONNX input's shape. */
  readonly dims: readonly number[];
  /** Image inputs: the input stage; feature maps: undefined. */
  readonly stage: ImageStage | undefined;
}

export interface OutputInterface {
  readonly name: string;
  readonly properties: hbDNNTensorProperties;
  readonly ort: OrtType;
  readonly dims: readonly number[];
  /** Bytes the ONNX output has (= alignedByteSize: aligned = valid). */
  readonly bytes: number;
}

/** A model file that does not make sense to the emulator; the message says why. */
export class InterfaceError extends Error {}

/** The static shape of an ONNX value, with the config's input_shape filling dynamic dims. */
export function staticDims(v: OnnxValue, what: string, fromConfig?: readonly number[]): number[] {
  if (v.dims === undefined && fromConfig === undefined) {
    throw new InterfaceError(`${what} '${v.name}' has no shape in the ONNX: export it with one`);
  }
  if (fromConfig !== undefined) {
    if (v.dims !== undefined) {
      const fits =
        v.dims.length === fromConfig.length &&
        v.dims.every((d, i) => typeof d !== 'number' || d === fromConfig[i]);
      if (!fits) {
        throw new InterfaceError(
          `the config's input_shape ${fromConfig.join('x')} does not match ${what} '${v.name}' ` +
            `of the ONNX, ${describeDims(v.dims)}: make them agree`,
        );
      }
    }
    return [...fromConfig];
  }
  const dims = v.dims!;
  if (dims.length > HB_DNN_TENSOR_MAX_DIMENSIONS) {
    throw new InterfaceError(
      `${what} '${v.name}' has ${dims.length} dimensions; the board allows 8`,
    );
  }
  return dims.map((d) => {
    if (typeof d !== 'number' || d < 1) {
      throw new InterfaceError(
        `${what} '${v.name}' has a dynamic shape ${describeDims(dims)}: the board runs static ` +
          'shapes; export the ONNX with fixed sizes (or set input_shape in the config)',
      );
    }
    return d;
  });
}

function describeDims(dims: readonly (number | string | undefined)[]): string {
  return `(${dims.map((d) => (d === undefined ? '?' : String(d))).join(', ')})`;
}

function elementType(v: OnnxValue, what: string) {
  const t = ELEMENT_TYPES.get(v.elemType);
  if (t === undefined) {
    throw new InterfaceError(
      `${what} '${v.name}' has ONNX element type ${v.elemType}, which the board has no tensor ` +
        'type for (use float32 or an integer type)',
    );
  }
  return t;
}

/** The layout the board reports for a tensor of this shape (see the file's comment). */
export function layoutOf(dims: readonly number[]): number {
  if (dims.length !== 4) return HB_DNN_LAYOUT_NONE;
  return dims[1] === dims[2] && dims[2] !== dims[3] ? HB_DNN_LAYOUT_NHWC : HB_DNN_LAYOUT_NCHW;
}

/** Contiguous byte strides of `dims` with `elementBytes` per element, padded to 8. */
export function contiguousStrides(dims: readonly number[], elementBytes: number): number[] {
  const stride = new Array<number>(HB_DNN_TENSOR_MAX_DIMENSIONS).fill(0);
  let step = elementBytes;
  for (let i = dims.length - 1; i >= 0; i--) {
    stride[i] = step;
    step *= dims[i]!;
  }
  return stride;
}

function properties(
  valid: readonly number[],
  aligned: readonly number[],
  layout: number,
  type: number,
  alignedByteSize: number,
  stride: readonly number[],
): hbDNNTensorProperties {
  const shape = (d: readonly number[]) => ({
    dimensionSize: [...d, ...new Array<number>(HB_DNN_TENSOR_MAX_DIMENSIONS - d.length).fill(0)],
    numDimensions: d.length,
  });
  return {
    validShape: shape(valid),
    alignedShape: shape(aligned),
    tensorLayout: layout,
    tensorType: type,
    shift: { shiftLen: 0, shiftData: null },
    scale: { scaleLen: 0, scaleData: null, zeroPointLen: 0, zeroPointData: null },
    quantiType: NONE,
    quantizeAxis: 0,
    alignedByteSize,
    stride: [...stride],
  };
}

/** A feature-map input or an output: the ONNX tensor as it is. */
function plainTensor(v: OnnxValue, what: string, dims: number[], layout?: Layout) {
  const t = elementType(v, what);
  const bytes = dims.reduce((a, b) => a * b, 1) * ORT_TYPE_BYTES[t.ort];
  if (bytes > 0x7fff_ffff) {
    throw new InterfaceError(`${what} '${v.name}' is ${bytes} bytes; alignedByteSize is an int32`);
  }
  const l =
    layout === undefined
      ? layoutOf(dims)
      : layout === 'NHWC'
        ? HB_DNN_LAYOUT_NHWC
        : HB_DNN_LAYOUT_NCHW;
  const strides = contiguousStrides(dims, ORT_TYPE_BYTES[t.ort]);
  return { t, bytes, props: properties(dims, dims, l, t.hb, bytes, strides) };
}

/**
 * An output, with the shape the model's load run gave it (`ran`: what the ONNX runtime
 * made of it on inputs of the model's shapes). The ONNX may leave sizes dynamic (they
 * follow from the input shape the config fixes, as the toolchain fixes them when it
 * compiles), but the sizes it declares must be the ones that come out.
 */
export function outputInterface(
  v: OnnxValue,
  ran: { readonly type: string; readonly dims: readonly number[] } | undefined,
): OutputInterface {
  const t = elementType(v, 'output');
  if (ran === undefined) {
    throw new InterfaceError(`output '${v.name}' was not produced by a run of the model`);
  }
  if (ran.type !== t.ort) {
    throw new InterfaceError(
      `output '${v.name}' is declared ${t.ort} but comes out as ${ran.type}: fix its type in the ONNX`,
    );
  }
  const dims = [...ran.dims];
  const declared = v.dims;
  const agrees =
    declared === undefined ||
    (declared.length === dims.length &&
      declared.every((d, i) => typeof d !== 'number' || d < 1 || d === dims[i]));
  if (!agrees) {
    throw new InterfaceError(
      `output '${v.name}' is declared ${describeDims(declared!)} but comes out as ` +
        `(${dims.join(', ')}) from the model's input shapes: fix its shape in the ONNX, or the ` +
        "config's input_shape",
    );
  }
  if (dims.length > HB_DNN_TENSOR_MAX_DIMENSIONS) {
    throw new InterfaceError(
      `output '${v.name}' has ${dims.length} dimensions; the board allows 8`,
    );
  }
  if (dims.some((d) => d < 1)) {
    throw new InterfaceError(
      `output '${v.name}' comes out empty, (${dims.join(', ')}), from the model's input shapes: ` +
        'a compiled model has no empty outputs',
    );
  }
  const { bytes, props } = plainTensor(v, 'output', dims);
  return { name: v.name, properties: props, ort: t.ort, dims, bytes };
}

/** What can be checked of an output before the model runs: its element type and rank. */
export function checkOutput(v: OnnxValue): void {
  elementType(v, 'output');
  if (v.dims !== undefined && v.dims.length > HB_DNN_TENSOR_MAX_DIMENSIONS) {
    throw new InterfaceError(
      `output '${v.name}' has ${v.dims.length} dimensions; the board allows 8`,
    );
  }
}

/** An input without a config: a feature map exactly as the ONNX declares it. */
export function featureInterface(v: OnnxValue, config?: InputConfig): InputInterface {
  const dims = staticDims(v, 'input', config?.shape);
  const layout = config?.layoutRt ?? config?.layoutTrain;
  const { t, props } = plainTensor(v, 'input', dims, dims.length === 4 ? layout : undefined);
  return { name: v.name, properties: props, ort: t.ort, dims, stage: undefined };
}

const IMAGE_TYPES = {
  nv12: HB_DNN_IMG_TYPE_NV12,
  gray: HB_DNN_IMG_TYPE_Y,
  rgb: HB_DNN_IMG_TYPE_RGB,
  bgr: HB_DNN_IMG_TYPE_BGR,
  yuv444: HB_DNN_IMG_TYPE_YUV444,
} as const;

/** An image input: what the board feeds (`input_type_rt`) to what was trained. */
export function imageInterface(v: OnnxValue, c: InputConfig): InputInterface {
  if (c.rt === 'featuremap' || c.train === 'featuremap') return featureInterface(v, c);
  const dims = staticDims(v, 'input', c.shape);
  const t = elementType(v, 'input');
  const channels = c.train === 'gray' ? 1 : 3;
  const layoutTrain = c.layoutTrain!;
  const mismatch = (why: string) =>
    new InterfaceError(
      `the config says input '${v.name}' is trained as ${c.train} ${layoutTrain}, but the ONNX ` +
        `declares ${t.ort} (${dims.join(', ')}): ${why}`,
    );
  if (t.ort !== 'float32') throw mismatch('an image input must be float32 in the ONNX');
  if (dims.length !== 4 || dims[0] !== 1) throw mismatch('an image input is 4-D with batch 1');
  const [h, w, ch] =
    layoutTrain === 'NCHW' ? [dims[2]!, dims[3]!, dims[1]!] : [dims[1]!, dims[2]!, dims[3]!];
  if (ch !== channels) {
    throw mismatch(`its channel dimension (${layoutTrain}) must be ${channels}`);
  }
  const stage: ImageStage = {
    rt: c.rt,
    layoutRt: c.layoutRt ?? 'NHWC',
    train: c.train,
    layoutTrain,
    range: c.range,
    mean: c.mean,
    scale: c.scale,
    width: w,
    height: h,
  };
  const type = IMAGE_TYPES[c.rt];
  let props: hbDNNTensorProperties;
  const zero = new Array<number>(HB_DNN_TENSOR_MAX_DIMENSIONS).fill(0);
  switch (c.rt) {
    case 'nv12':
      if (h % 2 !== 0 || w % 2 !== 0) {
        throw mismatch(`NV12 needs an even height and width, not ${h}x${w}`);
      }
      props = properties(
        [1, 3, h, w],
        [1, 3, h, w],
        HB_DNN_LAYOUT_NCHW,
        type,
        (h * w * 3) / 2,
        zero,
      );
      break;
    case 'gray': {
      const ws = align16(w);
      props = properties([1, 1, h, w], [1, 1, h, ws], HB_DNN_LAYOUT_NCHW, type, h * ws, zero);
      break;
    }
    default: {
      const nhwc = stage.layoutRt === 'NHWC';
      const shape = nhwc ? [1, h, w, 3] : [1, 3, h, w];
      const layout = nhwc ? HB_DNN_LAYOUT_NHWC : HB_DNN_LAYOUT_NCHW;
      props = properties(shape, shape, layout, type, h * w * 3, contiguousStrides(shape, 1));
    }
  }
  return { name: v.name, properties: props, ort: 'float32', dims, stage };
}

export function align16(n: number): number {
  return Math.ceil(n / 16) * 16;
}
