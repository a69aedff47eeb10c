/** withStaticShapes: a dynamic ONNX made loadable on the emulator, nothing else changed. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withStaticShapes } from '../../../src/cli/demo/onnx-static.js';
import { readOnnxIo } from '../../../src/emulator/dnn/onnx-io.js';
import { emulator, HB_DNN_INVALID_MODEL, loadModel } from '../../../src/index.js';
import { buildModel, modelDir, writeModel } from '../../dnn/models.js';

const dynamic = () =>
  buildModel({
    graphName: 'dyn',
    inputs: [{ name: 'x', dims: ['N', 2, 'H', 'W'] }],
    outputs: [{ name: 'y', dims: ['N', 2, 'H', 'W'] }],
    initializers: [{ name: 'two', dims: [], values: [2] }],
    nodes: [{ op: 'Mul', inputs: ['x', 'two'], outputs: ['y'] }],
  });

test('the named values get static shapes; the rest of the model is kept', async () => {
  await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
  const dir = modelDir();
  const file = writeModel(dir, 'dyn', dynamic());
  assert.throws(() => loadModel(file), { code: HB_DNN_INVALID_MODEL }, 'dynamic: refused');
  const fixed = withStaticShapes(dynamic(), { x: [1, 2, 3, 4], y: [1, 2, 3, 4] });
  const io = readOnnxIo(fixed);
  assert.equal(io.graphName, 'dyn');
  assert.deepEqual(io.inputs, [{ name: 'x', elemType: 1, dims: [1, 2, 3, 4] }]);
  assert.deepEqual(io.outputs, [{ name: 'y', elemType: 1, dims: [1, 2, 3, 4] }]);
  // The runtime runs it: the weights and nodes came through.
  using model = loadModel(writeModel(dir, 'fixed', fixed));
  const [input] = model.allocateInputs();
  const [output] = model.allocateOutputs();
  input!.write(Float32Array.from({ length: 24 }, (_, i) => i));
  await model.infer([input!], [output!]);
  assert.deepEqual(
    [...output!.read()],
    Array.from({ length: 24 }, (_, i) => 2 * i),
  );
  input!.free();
  output!.free();
});

test('a name the graph does not have is an error, not a silent no-op', () => {
  assert.throws(() => withStaticShapes(dynamic(), { z: [1] }), /no graph input or output named z/);
  assert.throws(() => withStaticShapes(new Uint8Array([0xff]), { x: [1] }), /ends inside a number/);
});
