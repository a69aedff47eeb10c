/** The layout math alone: where valid elements go in padded, strided and NV12 memory. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { elementType } from '../../src/dnn-model/element.js';
import { gather, LayoutError, scatter, tensorLayout } from '../../src/dnn-model/layout.js';
import {
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_TENSOR_TYPE_F32,
  type hbDNNTensorProperties,
  NONE,
} from '../../src/index.js';

function props(
  valid: number[],
  aligned: number[],
  type = HB_DNN_TENSOR_TYPE_F32,
  stride: number[] = [],
): hbDNNTensorProperties {
  const shape = (d: number[]) => ({
    dimensionSize: [...d, ...new Array(8 - d.length).fill(0)],
    numDimensions: d.length,
  });
  return {
    validShape: shape(valid),
    alignedShape: shape(aligned),
    tensorLayout: HB_DNN_LAYOUT_NCHW,
    tensorType: type,
    shift: { shiftLen: 0, shiftData: null },
    scale: { scaleLen: 0, scaleData: null, zeroPointLen: 0, zeroPointData: null },
    quantiType: NONE,
    quantizeAxis: 0,
    alignedByteSize: 0,
    stride: [...stride, ...new Array(8 - stride.length).fill(0)],
  };
}

const f32 = elementType(HB_DNN_TENSOR_TYPE_F32) as Exclude<ReturnType<typeof elementType>, string>;
const byte = elementType(HB_DNN_IMG_TYPE_NV12) as typeof f32;

describe('tensor layout', () => {
  test('padded NHWC channels: each element at its aligned place, padding untouched', () => {
    // (1, 2, 2, 3) valid in (1, 2, 2, 4) aligned: a channel of padding after every pixel.
    const l = tensorLayout(props([1, 2, 2, 3], [1, 2, 2, 4]), f32);
    assert.deepEqual(l.strides, [64, 32, 16, 4]);
    assert.deepEqual(l.memBytes, [(2 * 2 * 4 - 1) * 4]);
    const dense = Float32Array.from({ length: 12 }, (_, i) => i + 1);
    const mem = new Float32Array(16).fill(-1);
    scatter(l, new Uint8Array(dense.buffer), [new Uint8Array(mem.buffer)]);
    assert.deepEqual([...mem], [1, 2, 3, -1, 4, 5, 6, -1, 7, 8, 9, -1, 10, 11, 12, -1]);
    const back = new Float32Array(12);
    gather(l, [new Uint8Array(mem.buffer)], new Uint8Array(back.buffer));
    assert.deepEqual(back, dense);
  });

  test("the library's byte strides win over alignedShape (libdnn 1.18 and later)", () => {
    const l = tensorLayout(props([1, 2, 3], [1, 2, 3], HB_DNN_TENSOR_TYPE_F32, [64, 32, 8]), f32);
    assert.deepEqual(l.strides, [64, 32, 8]);
    const mem = new Float32Array(16);
    scatter(l, new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer), [
      new Uint8Array(mem.buffer),
    ]);
    assert.deepEqual([...mem.slice(0, 14)], [1, 0, 2, 0, 3, 0, 0, 0, 4, 0, 5, 0, 6, 0]);
  });

  test('NV12 with a row stride: Y rows, then UV rows, each stride bytes apart', () => {
    const l = tensorLayout(props([1, 3, 2, 4], [1, 3, 2, 8], HB_DNN_IMG_TYPE_NV12), byte);
    assert.equal(l.length, 12);
    assert.deepEqual(l.memBytes, [24]);
    const dense = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    const mem = new Uint8Array(24);
    scatter(l, dense, [mem]);
    assert.deepEqual(
      [...mem],
      [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0, 9, 10, 11, 12, 0, 0, 0, 0],
    );
    const sep = tensorLayout(
      props([1, 3, 2, 4], [1, 3, 2, 4], HB_DNN_IMG_TYPE_NV12_SEPARATE),
      byte,
    );
    assert.deepEqual(sep.memBytes, [8, 4]);
    const y = new Uint8Array(8);
    const uv = new Uint8Array(4);
    scatter(sep, dense, [y, uv]);
    assert.deepEqual([...y], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual([...uv], [9, 10, 11, 12]);
  });

  test('bad shapes are refused with a reason', () => {
    assert.throws(() => tensorLayout(props([1, 4], [1, 3]), f32), LayoutError);
    assert.throws(
      () => tensorLayout(props([1, 3, 3, 4], [1, 3, 3, 4], HB_DNN_IMG_TYPE_NV12), byte),
      /even H and W/,
    );
  });

  test('property: scatter then gather is the identity, and no padding byte is written', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (dimsAndPad) => {
          const valid = dimsAndPad.map(([d]) => d);
          const aligned = dimsAndPad.map(([d, p]) => d + p);
          const l = tensorLayout(props(valid, aligned), f32);
          const total = aligned.reduce((a, b) => a * b, 1);
          const dense = Float32Array.from({ length: l.length }, (_, i) => i + 1);
          const mem = new Float32Array(total).fill(-7);
          scatter(l, new Uint8Array(dense.buffer), [new Uint8Array(mem.buffer)]);
          const back = new Float32Array(l.length);
          gather(l, [new Uint8Array(mem.buffer)], new Uint8Array(back.buffer));
          assert.deepEqual(back, dense);
          // Exactly the valid elements were written, each once.
          assert.equal(mem.filter((v) => v !== -7).length, l.length);
          assert.ok(l.memBytes[0]! <= total * 4);
        },
      ),
    );
  });
});
