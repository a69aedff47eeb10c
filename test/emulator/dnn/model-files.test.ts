/**
 * The pieces that read a model's files: the ONNX reader (against models onnx-proto wrote,
 * and against any bytes at all), the conversion config, and the input stage's conversions.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, parseConfig } from '../../../src/emulator/dnn/config.js';
import { NotOnnxError, readOnnxIo } from '../../../src/emulator/dnn/onnx-io.js';
import { imageToTensor, yuvToRgb } from '../../../src/emulator/dnn/preprocess.js';
import { layoutOf } from '../../../src/emulator/dnn/properties.js';
import { affineModel, buildModel, FLOAT, INT64 } from '../../dnn/models.js';

describe('the ONNX reader', () => {
  test('names, element types and shapes of inputs and outputs; initializers are not inputs', () => {
    const bytes = buildModel({
      graphName: 'net',
      inputs: [
        { name: 'image', dims: [1, 3, 224, 224] },
        { name: 'ids', dims: ['batch', 7], type: INT64 },
        { name: 'w', dims: [2] },
      ],
      outputs: [{ name: 'logits', dims: [1, 1000] }],
      initializers: [{ name: 'w', dims: [2], values: [1, 2] }],
      nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['logits'] }],
    });
    const io = readOnnxIo(bytes);
    assert.equal(io.graphName, 'net');
    assert.deepEqual(io.inputs, [
      { name: 'image', elemType: FLOAT, dims: [1, 3, 224, 224] },
      { name: 'ids', elemType: INT64, dims: ['batch', 7] },
    ]);
    assert.deepEqual(io.outputs, [{ name: 'logits', elemType: FLOAT, dims: [1, 1000] }]);
  });

  test('any bytes: an answer or NotOnnxError, never anything else', () => {
    const good = affineModel([1, 4]);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(good.length),
        fc.nat(255),
        (junk, cut, flip) => {
          for (const bytes of [
            junk,
            good.subarray(0, cut),
            Uint8Array.from(good, (b, i) => (i === cut ? b ^ flip : b)),
          ]) {
            try {
              readOnnxIo(bytes);
            } catch (error) {
              assert.ok(error instanceof NotOnnxError, String(error));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the conversion config', () => {
  test('the toolchain keys, one value per input separated by ;', () => {
    const c = parseConfig(
      'm.yaml',
      `model_parameters:
  output_model_file_prefix: 'det_nv12'
  march: bayes-e
input_parameters:
  input_name: 'images;extra'
  input_type_rt: 'nv12;featuremap'
  input_type_train: 'bgr;featuremap'
  input_layout_train: 'NCHW;NCHW'
  input_space_and_range: 'bt601_video'
  norm_type: 'data_mean_and_scale;no_preprocess'
  mean_value: '103.94 116.78 123.68;'
  scale_value: 0.017
calibration_parameters:
  cal_data_dir: ./cal
`,
    );
    assert.equal(c.modelName, 'det_nv12');
    assert.equal(c.inputs.length, 2);
    assert.deepEqual(c.inputs[0], {
      name: 'images',
      rt: 'nv12',
      layoutRt: undefined,
      train: 'bgr',
      layoutTrain: 'NCHW',
      range: 'bt601_video',
      norm: 'data_mean_and_scale',
      mean: [103.94, 116.78, 123.68],
      scale: [0.017],
      shape: undefined,
    });
    assert.equal(c.inputs[1]!.rt, 'featuremap');
    assert.equal(c.inputs[1]!.norm, 'no_preprocess');
  });

  test('what it refuses names the file and the key', () => {
    const bad: [string, RegExp][] = [
      ['model_parameters: {}\n', /m.yaml has no input_parameters section/],
      [
        'input_parameters:\n  input_type_rt: jpeg\n',
        /input_parameters.input_type_rt must be one of nv12, gray, rgb, bgr, yuv444, featuremap, got 'jpeg'/,
      ],
      [
        'input_parameters:\n  input_type_rt: rgb\n  input_layout_train: NCHW\n',
        /input_layout_rt is needed for input_type_rt 'rgb'/,
      ],
      [
        'input_parameters:\n  input_type_rt: nv12\n  input_layout_train: NCWH\n  input_type_train: rgb\n',
        /input_layout_train must be NCHW or NHWC, got 'NCWH'/,
      ],
      [
        'input_parameters:\n  input_name: a;b\n  input_type_rt: nv12;nv12;nv12\n',
        /input_name names 2 inputs but input_type_rt has 3 values/,
      ],
      [
        'input_parameters:\n  input_type_rt: nv12\n  input_layout_train: NCHW\n',
        /input_type_train is needed for input_type_rt 'nv12'/,
      ],
      [
        'input_parameters:\n  input_type_rt: featuremap\n  input_batch: 4\n',
        /input_batch is 4: the emulator models input_batch 1 only/,
      ],
      [
        'input_parameters:\n  input_type_rt: nv12\n  input_type_train: rgb\n  input_layout_train: NCHW\n  norm_type: data_scale\n  scale_value: a b c\n',
        /scale_value must be numbers separated by spaces/,
      ],
      ['- a list\n', /is not a YAML mapping of sections/],
    ];
    for (const [text, re] of bad) {
      assert.throws(
        () => parseConfig('m.yaml', text),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
      );
    }
  });
});

describe('the input stage', () => {
  test('BT.601 full range (regular) and video range (bt601_video)', () => {
    assert.deepEqual(yuvToRgb(128, 128, 128, 'regular'), [128, 128, 128]);
    assert.deepEqual(yuvToRgb(16, 128, 128, 'bt601_video'), [0, 0, 0]);
    assert.deepEqual(yuvToRgb(235, 128, 128, 'bt601_video'), [255, 255, 255]);
    assert.deepEqual(yuvToRgb(76, 85, 255, 'regular'), [254, 0, 0]);
  });

  test('NV12 chroma covers 2x2 pixels; mean and scale per channel; NHWC vs NCHW', () => {
    // 2x2 image, Y = 10, 20, 30, 40; one chroma sample, neutral.
    const nv12 = Uint8Array.from([10, 20, 30, 40, 128, 128]);
    const stage = {
      rt: 'nv12',
      layoutRt: 'NHWC',
      train: 'rgb',
      range: 'regular',
      mean: [10, 0, 0],
      scale: [1, 2, 0.5],
      width: 2,
      height: 2,
    } as const;
    const nchw = imageToTensor(
      { ...stage, layoutTrain: 'NCHW' },
      { plane: nv12, offset: 0, stride: 2 },
    );
    assert.deepEqual([...nchw], [0, 10, 20, 30, 20, 40, 60, 80, 5, 10, 15, 20]);
    const nhwc = imageToTensor(
      { ...stage, layoutTrain: 'NHWC' },
      { plane: nv12, offset: 0, stride: 2 },
    );
    assert.deepEqual([...nhwc], [0, 20, 5, 10, 40, 10, 20, 60, 15, 30, 80, 20]);
  });

  test('the layout the board reports for outputs', () => {
    assert.equal(layoutOf([1, 80, 80, 64]), 0); // NHWC, as the model zoo's heads
    assert.equal(layoutOf([1, 1000, 1, 1]), 2); // NCHW
    assert.equal(layoutOf([1, 3, 224, 224]), 2);
    assert.equal(layoutOf([1, 1000]), 255);
  });
});
