/**
 * A dynamic-shape ONNX loads as it is: the config's input_shape fixes the inputs, and the
 * model's load run gives the outputs' shapes, as the toolchain fixes them when it compiles.
 * What the ONNX declares must agree with what comes out; a graph that cannot run on the
 * configured shapes is refused at load, not at the first infer.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  emulator,
  HB_DNN_INVALID_MODEL,
  HB_DNN_TENSOR_TYPE_F32,
  hbDNNGetLastError,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  type hbPackedDNNHandle_t,
} from '../../../src/index.js';
import { f32, freeAll, load, ok, outputProperties, run, tensors } from '../../dnn/helpers.js';
import { affineModel, buildModel, modelDir, writeModel } from '../../dnn/models.js';

const dir = modelDir();

const featuremapConfig = (shape: string) => `input_parameters:
  input_type_rt: 'featuremap'
  input_type_train: 'featuremap'
  input_layout_train: 'NCHW'
  norm_type: 'no_preprocess'
  input_shape: '${shape}'
`;

before(async () => {
  await emulator.reset({ heapSize: 16 << 20 });
});

function refused(file: string, pattern: RegExp): void {
  const out: { value?: hbPackedDNNHandle_t } = {};
  assert.equal(hbDNNInitializeFromFiles(out, [file], 1), HB_DNN_INVALID_MODEL);
  assert.match(hbDNNGetLastError()!.message, pattern);
  assert.equal(out.value, undefined);
}

describe('dynamic shapes', () => {
  test('dynamic input and output: the config fixes the input, the load run the output', () => {
    const file = writeModel(
      dir,
      'dyn',
      affineModel(['batch', 3, 'h', 'w']),
      featuremapConfig('1x3x4x6'),
    );
    const m = load(file);
    const p = outputProperties(m.model);
    assert.deepEqual(p.validShape.dimensionSize.slice(0, 4), [1, 3, 4, 6]);
    assert.equal(p.validShape.numDimensions, 4);
    assert.equal(p.tensorType, HB_DNN_TENSOR_TYPE_F32);
    assert.equal(p.alignedByteSize, 3 * 4 * 6 * 4);
    assert.deepEqual(p.stride.slice(0, 4), [288, 96, 24, 4]);
    const io = tensors(m.model);
    f32(io.inputs[0]!).forEach((_, i, a) => {
      a[i] = i;
    });
    run(m.model, io.inputs, io.outputs);
    assert.deepEqual(
      [...f32(io.outputs[0]!)],
      Array.from({ length: 72 }, (_, i) => 2 * i + 1),
    );
    freeAll([...io.inputs, ...io.outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('an output whose sizes the ONNX leaves open, without a config', () => {
    const file = writeModel(
      dir,
      'open-output',
      buildModel({
        inputs: [{ name: 'x', dims: [1, 2, 5] }],
        outputs: [{ name: 'y', dims: ['n', 'c', 5] }],
        nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      }),
    );
    const m = load(file);
    const p = outputProperties(m.model);
    assert.deepEqual(p.validShape.dimensionSize.slice(0, 3), [1, 2, 5]);
    assert.equal(p.alignedByteSize, 40);
    ok(hbDNNRelease(m.packed));
  });

  test('a declared output size that does not come out: refused, naming both', () => {
    const file = writeModel(
      dir,
      'wrong-output',
      buildModel({
        inputs: [{ name: 'x', dims: ['n', 5] }],
        outputs: [{ name: 'y', dims: [2, 5] }],
        nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      }),
      featuremapConfig('1x5'),
    );
    refused(
      file,
      /output 'y' is declared \(2, 5\) but comes out as \(1, 5\) from the model's input shapes: fix its shape in the ONNX, or the config's input_shape/,
    );
  });

  test('a graph that cannot run on the configured input shape: refused at load', () => {
    const file = writeModel(
      dir,
      'no-run',
      buildModel({
        inputs: [{ name: 'x', dims: ['n', 'c'] }],
        outputs: [{ name: 'y', dims: ['n', 'c'] }],
        initializers: [{ name: 'b', dims: [4], values: [1, 2, 3, 4] }],
        nodes: [{ op: 'Add', inputs: ['x', 'b'], outputs: ['y'] }],
      }),
      `input_parameters:
  input_type_rt: 'featuremap'
  input_type_train: 'featuremap'
  norm_type: 'no_preprocess'
  input_shape: '1x5'
`,
    );
    refused(
      file,
      /no-run\.onnx: the ONNX runtime cannot run it on inputs of the shapes the model takes, 'x' \(1, 5\): .*Check the config's input_shape/,
    );
  });
});
