/**
 * The host array that holds a tensor's elements, by `tensorType`: image types and 8-bit
 * tensors are bytes, F32 is Float32Array, and so on. F16 elements are their raw 16 bits
 * (Uint16Array: Node 20 has no Float16Array); 4-bit types have no host array.
 */

import {
  HB_DNN_TENSOR_TYPE_F16,
  HB_DNN_TENSOR_TYPE_F32,
  HB_DNN_TENSOR_TYPE_F64,
  HB_DNN_TENSOR_TYPE_S4,
  HB_DNN_TENSOR_TYPE_S8,
  HB_DNN_TENSOR_TYPE_S16,
  HB_DNN_TENSOR_TYPE_S32,
  HB_DNN_TENSOR_TYPE_S64,
  HB_DNN_TENSOR_TYPE_U4,
  HB_DNN_TENSOR_TYPE_U8,
  HB_DNN_TENSOR_TYPE_U16,
  HB_DNN_TENSOR_TYPE_U32,
  HB_DNN_TENSOR_TYPE_U64,
} from '../dnn/types.js';

/** The arrays a tensor reads into and writes from. */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface ElementType {
  /** The array class of this tensor type. */
  readonly array: { new (length: number): TensorData; readonly name: string };
  readonly bytes: number;
  readonly name: string;
}

const el = (array: ElementType['array'], bytes: number, name: string): ElementType => ({
  array,
  bytes,
  name,
});

const BY_TYPE: ReadonlyMap<number, ElementType> = new Map([
  [HB_DNN_TENSOR_TYPE_S8, el(Int8Array, 1, 'S8')],
  [HB_DNN_TENSOR_TYPE_U8, el(Uint8Array, 1, 'U8')],
  [HB_DNN_TENSOR_TYPE_F16, el(Uint16Array, 2, 'F16')],
  [HB_DNN_TENSOR_TYPE_S16, el(Int16Array, 2, 'S16')],
  [HB_DNN_TENSOR_TYPE_U16, el(Uint16Array, 2, 'U16')],
  [HB_DNN_TENSOR_TYPE_F32, el(Float32Array, 4, 'F32')],
  [HB_DNN_TENSOR_TYPE_S32, el(Int32Array, 4, 'S32')],
  [HB_DNN_TENSOR_TYPE_U32, el(Uint32Array, 4, 'U32')],
  [HB_DNN_TENSOR_TYPE_F64, el(Float64Array, 8, 'F64')],
  [HB_DNN_TENSOR_TYPE_S64, el(BigInt64Array, 8, 'S64')],
  [HB_DNN_TENSOR_TYPE_U64, el(BigUint64Array, 8, 'U64')],
]);

const IMAGE_NAMES = ['Y', 'NV12', 'NV12_SEPARATE', 'YUV444', 'RGB', 'BGR'];

/** The element type of `tensorType`, or a message saying why there is none. */
export function elementType(tensorType: number): ElementType | string {
  if (tensorType >= 0 && tensorType < IMAGE_NAMES.length) {
    return el(Uint8Array, 1, `IMG_TYPE_${IMAGE_NAMES[tensorType]}`);
  }
  if (tensorType === HB_DNN_TENSOR_TYPE_S4 || tensorType === HB_DNN_TENSOR_TYPE_U4) {
    return (
      'a 4-bit tensor (S4/U4) has no host array type: read and write its bytes through ' +
      'tensor.buffers[0]'
    );
  }
  return BY_TYPE.get(tensorType) ?? `tensorType ${tensorType} is not an hbDNNDataType (0 … 18)`;
}
