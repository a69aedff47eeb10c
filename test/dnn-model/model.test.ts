/**
 * The idiomatic model API on the emulator: loadModel, allocateTensor, write/read through
 * the layout, infer with its implied CLEAN and INVALIDATE, `using`, and errors carrying the
 * hbDNN code.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  allocateTensor,
  DnnTensor,
  emulator,
  HB_DNN_CAN_NOT_OPEN_FILE,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_MODEL,
  HB_DNN_MODEL_IS_RUNNING,
  HbDNNError,
  HbSysError,
  loadModel,
  Model,
  register,
  wrapTensor,
} from '../../src/index.js';
import { affineModel, chainModel, identityModel, modelDir, writeModel } from '../dnn/models.js';

const dir = modelDir();
let affine: string;
let gray: string;
let nv12: string;
let chainLoaded: string;

before(async () => {
  await emulator.reset({ heapSize: 64 << 20, vioSize: 1 << 20, sanitize: 'report' });
  affine = writeModel(dir, 'affine', affineModel([1, 2, 3, 4]));
  chainLoaded = writeModel(dir, 'chain', chainModel());
  gray = writeModel(
    dir,
    'gray',
    identityModel([1, 1, 3, 5]),
    'input_parameters:\n  input_type_rt: gray\n  input_type_train: gray\n  input_layout_train: NCHW\n',
  );
  nv12 = writeModel(
    dir,
    'nv12',
    identityModel([1, 3, 2, 4]),
    'input_parameters:\n  input_type_rt: nv12\n  input_type_train: yuv444\n  input_layout_train: NCHW\n',
  );
});

/** Findings since the last call, as kinds. */
function newFindings(): string[] {
  const kinds = emulator.findings().map((f) => f.kind);
  emulator.clearFindings();
  return kinds;
}

describe('loadModel', () => {
  test('name, inputs and outputs with their properties', () => {
    using model = loadModel(affine);
    assert.equal(model.name, 'affine');
    assert.equal(model.file, affine);
    assert.deepEqual(
      model.inputs.map((i) => [i.index, i.name]),
      [[0, 'x']],
    );
    assert.deepEqual(
      model.outputs.map((o) => o.name),
      ['y'],
    );
    const p = model.inputs[0]!.properties;
    assert.equal(p.alignedByteSize, 96);
    p.alignedByteSize = 1; // a copy: the model's own is unchanged
    assert.equal(model.inputs[0]!.properties.alignedByteSize, 96);
    assert.ok(Model.load(affine) instanceof Model, 'Model.load is loadModel');
  });

  test('a missing file and a file that is not ONNX: HbDNNError with the code', () => {
    assert.throws(
      () => loadModel(`${dir}/nope.bin`),
      (e: unknown) =>
        e instanceof HbDNNError &&
        e.code === HB_DNN_CAN_NOT_OPEN_FILE &&
        e.status === 'HB_DNN_CAN_NOT_OPEN_FILE' &&
        /nope\.onnx/.test(e.message) &&
        /check the path/.test(e.message),
    );
    const junk = writeModel(dir, 'junk', new TextEncoder().encode('not a model'));
    assert.throws(() => loadModel(junk), { code: HB_DNN_INVALID_MODEL });
    assert.throws(() => loadModel(''), { code: HB_DNN_INVALID_ARGUMENT });
    assert.throws(() => loadModel(affine, { name: 'other' }), /no model named 'other'/);
  });

  test('using releases the model; a released model refuses infer and release', async () => {
    let kept: Model;
    {
      using model = loadModel(affine);
      kept = model;
      assert.equal(model.released, false);
    }
    assert.equal(kept.released, true);
    await assert.rejects(kept.infer([], []), { code: HB_DNN_INVALID_DNN_HANDLE });
    assert.throws(() => kept.release(), { code: HB_DNN_INVALID_DNN_HANDLE });
    kept[Symbol.dispose](); // a second dispose does nothing
  });
});

describe('tensors and infer', () => {
  test('infer: CLEAN, run, wait, INVALIDATE done for the caller, no findings', async () => {
    using model = loadModel(affine);
    using input = allocateTensor(model.inputs[0]!.properties, { label: 'x' });
    using output = allocateTensor(model.outputs[0]!.properties, { label: 'y' });
    assert.ok(input.buffers[0]!.cached, 'cached by default, as on the board');
    input.write(Float32Array.from({ length: 24 }, (_, i) => i));
    const result = await model.infer([input], [output]);
    assert.equal(result[0], output);
    assert.deepEqual(
      [...output.read()],
      Array.from({ length: 24 }, (_, i) => 2 * i + 1),
    );
    assert.deepEqual(newFindings(), []);
    // The same tensors again, with new input: the second run sees it (the CLEAN happened).
    input.write(new Float32Array(24).fill(10));
    await model.infer([input], [output]);
    assert.deepEqual([...output.read()], new Array(24).fill(21));
    assert.deepEqual(newFindings(), []);
  });

  test('the event loop runs while the task is in flight (queued behind long model tasks)', async () => {
    using model = loadModel(affine);
    const [input] = model.allocateInputs();
    const [output] = model.allocateOutputs();
    input!.write(new Float32Array(24));
    // Work ahead of the task on the BPU's one queue: the task cannot complete before it. It
    // is model tasks (tens of milliseconds of compute each, one cheap submission), not big
    // copies: under qemu the sanitizer's per-copy bookkeeping on this thread took as long as
    // the copies themselves on the BPU, which then finished before the loop's first turn.
    using chain = loadModel(chainLoaded);
    const chainIn = chain.allocateInputs();
    const chainOut = chain.allocateOutputs();
    chainIn[0]!.write(new Float32Array(chainIn[0]!.shape.reduce((a, b) => a * b)));
    // A waiting infer lets the loop turn many times; a blocking one never (its promise is
    // settled before the first turn), whatever the machine's load. Each attempt puts more
    // work ahead, and one attempt that turns enough is the proof.
    const turns: number[] = [];
    for (const tasksAhead of [1, 3, 9]) {
      const ahead: Promise<unknown>[] = [];
      for (let i = 0; i < tasksAhead; i++) ahead.push(chain.infer(chainIn, chainOut));
      let ticks = 0;
      let ticking = true;
      const tick = () => {
        ticks++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const pending = model.infer([input!], [output!]);
      assert.equal(model.running, 1);
      await pending;
      turns.push(ticks);
      ticking = false;
      await Promise.all(ahead);
      assert.equal(model.running, 0);
      if (ticks >= 3) break;
    }
    assert.ok(
      turns.some((t) => t >= 3),
      `the event loop turned ${turns.join(', ')} times while infer waited`,
    );
    for (const t of [input!, output!, ...chainIn, ...chainOut]) t.free();
  });

  test('release while an infer is in flight: MODEL_IS_RUNNING, and the model still works', async () => {
    const model = loadModel(affine);
    using input = allocateTensor(model.inputs[0]!.properties);
    using output = allocateTensor(model.outputs[0]!.properties);
    input.write(new Float32Array(24).fill(1));
    const pending = model.infer([input], [output]);
    assert.throws(() => model.release(), { code: HB_DNN_MODEL_IS_RUNNING });
    emulator.clearFindings(); // the sanitizer also reports the early release; expected here
    await pending;
    assert.deepEqual([...output.read()], new Array(24).fill(3));
    model.release();
  });

  test('wrong tensors: counts, freed tensors, objects that are not tensors', async () => {
    const live = emulator.stats().allocationCount;
    using model = loadModel(affine);
    using input = allocateTensor(model.inputs[0]!.properties);
    const output = allocateTensor(model.outputs[0]!.properties);
    await assert.rejects(model.infer([], [output]), /takes 1 inputs, got 0/);
    await assert.rejects(model.infer([input], [input.tensor as never]), {
      code: HB_DNN_INVALID_ARGUMENT,
    });
    // An input tensor where the output belongs: the backend's check, as an HbDNNError.
    const gm = loadModel(gray);
    using g = allocateTensor(gm.inputs[0]!.properties);
    await assert.rejects(model.infer([input], [g]), (e: unknown) => {
      return (
        e instanceof HbDNNError &&
        e.code === HB_DNN_INVALID_ARGUMENT &&
        /hbDNNInfer/.test(e.message)
      );
    });
    gm.release();
    output.free();
    await assert.rejects(model.infer([input], [output]), /outputs\[0\] was freed/);
    assert.throws(() => output.free(), /freed/);
    assert.equal(emulator.stats().allocationCount, live + 2, 'only input and g are live');
  });

  test('write and read are typed by tensorType', () => {
    using model = loadModel(affine);
    using t = allocateTensor(model.inputs[0]!.properties);
    assert.ok(t.read() instanceof Float32Array);
    assert.throws(() => t.write(new Float64Array(24)), /takes a Float32Array, got a Float64Array/);
    assert.throws(() => t.write(new Float32Array(23)), /holds 24 elements, got 23/);
    t.write(Array.from({ length: 24 }, () => 0.5)); // plain numbers are converted
    assert.deepEqual([...t.read()], new Array(24).fill(0.5));
    assert.throws(() => allocateTensor({} as never), { code: HB_DNN_INVALID_ARGUMENT });
    const s4 = { ...model.inputs[0]!.properties, tensorType: 6 };
    assert.throws(() => allocateTensor(s4), /4-bit/);
  });

  test('gray input: dense rows go into the 16-byte aligned rows the model reads', async () => {
    using model = loadModel(gray);
    const p = model.inputs[0]!.properties;
    assert.equal(p.tensorType, HB_DNN_IMG_TYPE_Y);
    assert.deepEqual(p.alignedShape.dimensionSize.slice(0, 4), [1, 1, 3, 16]);
    using input = allocateTensor(p);
    using output = allocateTensor(model.outputs[0]!.properties);
    const pixels = Uint8Array.from({ length: 15 }, (_, i) => i + 1);
    input.write(pixels);
    // The memory holds the rows 16 bytes apart; reading it as dense would be garbage.
    const raw = input.buffers[0]!.bytes;
    assert.deepEqual([...raw.subarray(16, 21)], [6, 7, 8, 9, 10]);
    assert.deepEqual(input.read(), pixels);
    await model.infer([input], [output]);
    assert.deepEqual([...output.read()], [...pixels]);
  });

  test('NV12 from a registered camera buffer, wrapped without a copy; using leaves it alone', async () => {
    using model = loadModel(nv12);
    const p = model.inputs[0]!.properties;
    assert.equal(p.tensorType, HB_DNN_IMG_TYPE_NV12);
    const frame = Uint8Array.from({ length: 12 }, (_, i) => 20 + i * 10);
    const vio = emulator.vio.alloc(12);
    emulator.vio.write(vio.phyAddr, frame); // the camera writes physical memory
    using registered = register(vio.phyAddr, 12, { label: 'camera frame' });
    using output = allocateTensor(model.outputs[0]!.properties);
    {
      using input = wrapTensor(p, [registered]);
      assert.ok(input instanceof DnnTensor);
      await model.infer([input], [output]);
    }
    assert.equal(registered.freed, false, 'the wrapped buffer belongs to its owner');
    // yuv444 training: the model sees Y, U, V planes; U/V repeat over 2x2 pixels.
    const out = output.read();
    assert.deepEqual([...out.subarray(0, 8)], [...frame.subarray(0, 8)]);
    assert.deepEqual([...out.subarray(8, 12)], [100, 100, 120, 120]);
    assert.deepEqual([...out.subarray(16, 20)], [110, 110, 130, 130]);
    registered.free();
    emulator.vio.free(vio.phyAddr);
    assert.throws(() => wrapTensor(p, []), /needs 1 buffer/);
    assert.throws(() => wrapTensor(p, [{ mem: {}, size: 12 }] as never), {
      code: HB_DNN_INVALID_ARGUMENT,
      message: /must be a live HbSysBuffer/,
    });
    assert.throws(() => wrapTensor(p, [registered]), /was freed|live HbSysBuffer/);
    assert.deepEqual(newFindings(), []);
  });

  test('allocateTensor: the memory can fail as HbSysError; options are checked', () => {
    using model = loadModel(affine);
    assert.throws(
      () => allocateTensor(model.inputs[0]!.properties, { cached: 'yes' as never }),
      HbSysError,
    );
    assert.throws(() => allocateTensor(model.inputs[0]!.properties, null as never), {
      code: HB_DNN_INVALID_ARGUMENT,
    });
  });
});
