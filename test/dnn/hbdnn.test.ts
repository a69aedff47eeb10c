/**
 * hbDNN on the emulator, end to end through the C-style API: load, properties, infer,
 * wait, release; models batched with `more`; the live-task limit; the cache model on model
 * I/O (a missing CLEAN feeds stale input, a missing INVALIDATE reads stale output).
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { HEAD, HEARTBEAT_AT, STARTED } from '../../src/emulator/bpu-queue.js';
import { imageToTensor } from '../../src/emulator/dnn/preprocess.js';
import { currentMachine } from '../../src/emulator/index.js';
import * as sys from '../../src/index.js';
import {
  emulator,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_RGB,
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_LAYOUT_NHWC,
  HB_DNN_LAYOUT_NONE,
  HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_DNN_TENSOR_TYPE_F32,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  hbDNNGetErrorDesc,
  hbDNNGetInputName,
  hbDNNGetLastError,
  hbDNNGetModelNameList,
  hbDNNGetOutputName,
  hbDNNGetVersion,
  hbDNNInfer,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  hbDNNWaitTaskDone,
  hbDNNWaitTaskDoneAsync,
  hbSysFlushMem,
  NONE,
} from '../../src/index.js';
import {
  ctrl,
  f32,
  freeAll,
  inputProperties,
  load,
  ok,
  outputProperties,
  run,
  tensors,
} from './helpers.js';
import {
  affineModel,
  buildModel,
  chainModel,
  identityModel,
  modelDir,
  writeModel,
} from './models.js';

const dir = modelDir();
let affine: string;

before(async () => {
  await emulator.reset({ heapSize: 64 << 20, vioSize: 1 << 20 });
  affine = writeModel(dir, 'affine', affineModel([1, 2, 3, 4]));
});

describe('hbDNN: a feature-map model', () => {
  test('version, names, properties as the board reports them', () => {
    assert.match(hbDNNGetVersion(), /^1\.18\.6_\(hbsys emulator\)$/);
    const m = load(affine);
    assert.equal(m.name, 'affine');
    const name: { value?: string } = {};
    ok(hbDNNGetInputName(name, m.model, 0));
    assert.equal(name.value, 'x');
    ok(hbDNNGetOutputName(name, m.model, 0));
    assert.equal(name.value, 'y');
    const p = inputProperties(m.model);
    assert.deepEqual(p.validShape.dimensionSize.slice(0, 4), [1, 2, 3, 4]);
    assert.equal(p.validShape.numDimensions, 4);
    assert.deepEqual(p.alignedShape, p.validShape);
    assert.equal(p.tensorType, HB_DNN_TENSOR_TYPE_F32);
    assert.equal(p.tensorLayout, HB_DNN_LAYOUT_NCHW);
    assert.equal(p.quantiType, NONE);
    assert.equal(p.alignedByteSize, 2 * 3 * 4 * 4);
    assert.deepEqual(p.stride, [96, 48, 16, 4, 0, 0, 0, 0]);
    const o = outputProperties(m.model);
    assert.deepEqual(o.stride, p.stride);
    ok(hbDNNRelease(m.packed));
  });

  test('x.bin loads the x.onnx beside it; infer, wait, INVALIDATE, read', () => {
    const m = load(affine.replace(/\.onnx$/, '.bin'));
    const { inputs, outputs } = tensors(m.model);
    f32(inputs[0]!).set(Array.from({ length: 24 }, (_, i) => i));
    run(m.model, inputs, outputs);
    assert.deepEqual(
      [...f32(outputs[0]!)],
      Array.from({ length: 24 }, (_, i) => 2 * i + 1),
    );
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('the promise twin of the wait resolves with 0', async () => {
    const m = load(affine);
    const { inputs, outputs } = tensors(m.model, false);
    f32(inputs[0]!).fill(3);
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
    assert.equal(await hbDNNWaitTaskDoneAsync(task.value!), 0);
    assert.equal(f32(outputs[0]!)[5], 7);
    ok(hbDNNReleaseTask(task.value!));
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('a model with two inputs and two outputs; names and order as in the ONNX', () => {
    const file = writeModel(
      dir,
      'two',
      buildModel({
        inputs: [
          { name: 'a', dims: [1, 4] },
          { name: 'b', dims: [1, 4] },
        ],
        outputs: [
          { name: 'sum', dims: [1, 4] },
          { name: 'product', dims: [1, 4] },
        ],
        nodes: [
          { op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
          { op: 'Mul', inputs: ['a', 'b'], outputs: ['product'] },
        ],
      }),
    );
    const m = load(file);
    assert.equal(inputProperties(m.model, 1).tensorLayout, HB_DNN_LAYOUT_NONE);
    const { inputs, outputs } = tensors(m.model);
    f32(inputs[0]!).set([1, 2, 3, 4]);
    f32(inputs[1]!).set([10, 20, 30, 40]);
    run(m.model, inputs, outputs);
    assert.deepEqual([...f32(outputs[0]!)], [11, 22, 33, 44]);
    assert.deepEqual([...f32(outputs[1]!)], [10, 40, 90, 160]);
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('two files in one pack: two models by name', () => {
    const other = writeModel(dir, 'other', affineModel([1, 8]));
    const packed: { value?: never } = {};
    ok(hbDNNInitializeFromFiles(packed, [affine, other], 2));
    const names: { value?: readonly string[] } = {};
    const count: { value?: number } = {};
    ok(hbDNNGetModelNameList(names, count, packed.value!));
    assert.deepEqual(names.value, ['affine', 'other']);
    assert.equal(count.value, 2);
    ok(hbDNNRelease(packed.value!));
  });
});

describe('hbDNN: image inputs from the conversion config', () => {
  const nv12Config = (layout: 'NCHW' | 'NHWC', extra = '') => `
model_parameters:
  onnx_model: 'net.onnx'
  output_model_file_prefix: 'net_nv12'
input_parameters:
  input_name: 'image'
  input_type_rt: 'nv12'
  input_type_train: 'rgb'
  input_layout_train: '${layout}'
  norm_type: 'data_mean_and_scale'
  mean_value: '128 120 110'
  scale_value: '0.5'
${extra}`;

  for (const layout of ['NCHW', 'NHWC'] as const) {
    test(`NV12 in, RGB ${layout} trained: converted, normalised and laid out as the compiled model does`, () => {
      const dims = layout === 'NCHW' ? [1, 3, 4, 6] : [1, 4, 6, 3];
      const file = writeModel(dir, `nv12-${layout}`, identityModel(dims), nv12Config(layout));
      const m = load(file);
      assert.equal(m.name, 'net_nv12');
      const p = inputProperties(m.model);
      assert.equal(p.tensorType, HB_DNN_IMG_TYPE_NV12);
      assert.equal(p.tensorLayout, HB_DNN_LAYOUT_NCHW);
      assert.deepEqual(p.validShape.dimensionSize.slice(0, 4), [1, 3, 4, 6]);
      assert.deepEqual(p.alignedShape, p.validShape);
      assert.equal(p.alignedByteSize, (4 * 6 * 3) / 2);
      assert.deepEqual(p.stride, [0, 0, 0, 0, 0, 0, 0, 0]);
      const { inputs, outputs } = tensors(m.model);
      const nv12 = Uint8Array.from({ length: 36 }, (_, i) => (i * 37 + 11) & 0xff);
      inputs[0]!.sysMem[0]!.virAddr!.set(nv12);
      run(m.model, inputs, outputs);
      const expected = imageToTensor(
        {
          rt: 'nv12',
          layoutRt: 'NHWC',
          train: 'rgb',
          layoutTrain: layout,
          range: 'regular',
          mean: [128, 120, 110],
          scale: [0.5],
          width: 6,
          height: 4,
        },
        { plane: nv12, offset: 0, stride: 6 },
      );
      assert.deepEqual([...f32(outputs[0]!)], [...expected]);
      freeAll([...inputs, ...outputs]);
      ok(hbDNNRelease(m.packed));
    });
  }

  test('NV12 with a wider row stride: alignedShape W set to the stride', () => {
    const file = writeModel(dir, 'nv12-stride', identityModel([1, 3, 2, 4]), nv12Config('NCHW'));
    const m = load(file);
    const p = inputProperties(m.model);
    p.alignedShape.dimensionSize[3] = 16; // rows 16 bytes apart
    const { outputs } = tensors(m.model);
    const input = {
      sysMem: [{}],
      properties: p,
    } as never as import('../../src/index.js').hbDNNTensor;
    ok(sys.hbSysAllocCachedMem(input.sysMem[0]!, 2 * 16 * 1.5));
    const strided = new Uint8Array(48);
    const tight = Uint8Array.from({ length: 12 }, (_, i) => 60 + i * 9);
    for (let row = 0; row < 3; row++) strided.set(tight.subarray(row * 4, row * 4 + 4), row * 16);
    input.sysMem[0]!.virAddr!.set(strided);
    run(m.model, [input], outputs);
    const expected = imageToTensor(
      {
        rt: 'nv12',
        layoutRt: 'NHWC',
        train: 'rgb',
        layoutTrain: 'NCHW',
        range: 'regular',
        mean: [128, 120, 110],
        scale: [0.5],
        width: 4,
        height: 2,
      },
      { plane: tight, offset: 0, stride: 4 },
    );
    assert.deepEqual([...f32(outputs[0]!)], [...expected]);
    freeAll([input, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('NV12_SEPARATE: Y and UV in two hbSysMem, as a camera pyramid gives them', () => {
    const file = writeModel(dir, 'nv12-sep', identityModel([1, 3, 2, 4]), nv12Config('NCHW'));
    const m = load(file);
    const p = inputProperties(m.model);
    p.tensorType = sys.HB_DNN_IMG_TYPE_NV12_SEPARATE;
    const y = {} as sys.hbSysMem;
    const uv = {} as sys.hbSysMem;
    ok(sys.hbSysAllocCachedMem(y, 8));
    ok(sys.hbSysAllocCachedMem(uv, 4));
    const nv12 = Uint8Array.from([10, 50, 90, 130, 170, 210, 250, 30, 100, 160, 60, 200]);
    y.virAddr!.set(nv12.subarray(0, 8));
    uv.virAddr!.set(nv12.subarray(8));
    const { outputs } = tensors(m.model);
    run(m.model, [{ sysMem: [y, uv], properties: p }], outputs);
    const expected = imageToTensor(
      {
        rt: 'nv12',
        layoutRt: 'NHWC',
        train: 'rgb',
        layoutTrain: 'NCHW',
        range: 'regular',
        mean: [128, 120, 110],
        scale: [0.5],
        width: 4,
        height: 2,
      },
      { plane: nv12, offset: 0, stride: 4 },
    );
    assert.deepEqual([...f32(outputs[0]!)], [...expected]);
    sys.hbSysFreeMem(y);
    sys.hbSysFreeMem(uv);
    freeAll(outputs);
    ok(hbDNNRelease(m.packed));
  });

  test('gray input: IMG_TYPE_Y, W aligned to 16 (a reader that ignores alignment reads garbage)', () => {
    const config = `
input_parameters:
  input_type_rt: gray
  input_type_train: gray
  input_layout_train: NCHW
`;
    const file = writeModel(dir, 'gray', identityModel([1, 1, 3, 5]), config);
    const m = load(file);
    const p = inputProperties(m.model);
    assert.equal(p.tensorType, HB_DNN_IMG_TYPE_Y);
    assert.deepEqual(p.validShape.dimensionSize.slice(0, 4), [1, 1, 3, 5]);
    assert.deepEqual(p.alignedShape.dimensionSize.slice(0, 4), [1, 1, 3, 16]);
    assert.equal(p.alignedByteSize, 48);
    const { inputs, outputs } = tensors(m.model);
    const rows = [
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
      [11, 12, 13, 14, 15],
    ];
    for (const [i, r] of rows.entries()) inputs[0]!.sysMem[0]!.virAddr!.set(r, i * 16);
    run(m.model, inputs, outputs);
    assert.deepEqual([...f32(outputs[0]!)], rows.flat());
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('BGR NHWC run time into an RGB NCHW model: channels swapped, layout reordered', () => {
    const config = `
input_parameters:
  input_type_rt: bgr
  input_layout_rt: NHWC
  input_type_train: rgb
  input_layout_train: NCHW
`;
    const file = writeModel(dir, 'bgr', identityModel([1, 3, 1, 2]), config);
    const m = load(file);
    const p = inputProperties(m.model);
    assert.equal(p.tensorType, HB_DNN_IMG_TYPE_RGB + 1);
    assert.equal(p.tensorLayout, HB_DNN_LAYOUT_NHWC);
    assert.deepEqual(p.validShape.dimensionSize.slice(0, 4), [1, 1, 2, 3]);
    const { inputs, outputs } = tensors(m.model);
    inputs[0]!.sysMem[0]!.virAddr!.set([1, 2, 3, 4, 5, 6]); // (B, G, R) per pixel
    run(m.model, inputs, outputs);
    assert.deepEqual([...f32(outputs[0]!)], [3, 6, 2, 5, 1, 4]);
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });
});

describe('hbDNN: tasks', () => {
  test('more: models batched in one task; nothing runs until more = 0', () => {
    const a = load(affine);
    const b = load(writeModel(dir, 'b', affineModel([1, 4], 'u', 'v')));
    const ta = tensors(a.model);
    const tb = tensors(b.model);
    f32(ta.inputs[0]!).fill(1);
    f32(tb.inputs[0]!).fill(5);
    for (const t of [...ta.inputs, ...tb.inputs])
      ok(hbSysFlushMem(t.sysMem[0]!, HB_SYS_MEM_CACHE_CLEAN));
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(hbDNNInfer(task, ta.outputs, ta.inputs, a.model, ctrl(true)));
    const first = task.value;
    const outA = ta.outputs[0]!.sysMem[0]!;
    assert.ok(
      emulator.peek(outA.phyAddr, 96).every((x) => x === 0),
      'nothing ran yet',
    );
    assert.equal(
      hbDNNWaitTaskDone(task.value!, 100),
      sys.HB_DNN_API_USE_ERROR,
      'an open task cannot be waited for',
    );
    ok(hbDNNInfer(task, tb.outputs, tb.inputs, b.model, ctrl(false)));
    assert.equal(task.value, first, 'the same task');
    ok(hbDNNWaitTaskDone(task.value!, 0));
    for (const t of [...ta.outputs, ...tb.outputs])
      ok(hbSysFlushMem(t.sysMem[0]!, HB_SYS_MEM_CACHE_INVALIDATE));
    assert.ok(f32(ta.outputs[0]!).every((x) => x === 3));
    assert.ok(f32(tb.outputs[0]!).every((x) => x === 11));
    ok(hbDNNReleaseTask(task.value!));
    freeAll([...ta.inputs, ...ta.outputs, ...tb.inputs, ...tb.outputs]);
    ok(hbDNNRelease(a.packed));
    ok(hbDNNRelease(b.packed));
  });

  test('at most 255 models in one task', () => {
    const m = load(affine);
    const { inputs, outputs } = tensors(m.model, false);
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    for (let i = 0; i < 255; i++) ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl(true)));
    assert.equal(
      hbDNNInfer(task, outputs, inputs, m.model, ctrl(true)),
      HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
    );
    assert.match(hbDNNGetLastError()!.message, /255 models/);
    ok(hbDNNReleaseTask(task.value!)); // an open task is never run
    task.value = null;
    for (let i = 0; i < 254; i++) ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl(true)));
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl(false)));
    ok(hbDNNWaitTaskDone(task.value!, 0));
    assert.ok(f32(outputs[0]!).every((x) => x === 1));
    ok(hbDNNReleaseTask(task.value!));
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('at most 32 live tasks; releasing one makes room', () => {
    const m = load(affine);
    const { inputs, outputs } = tensors(m.model, false);
    const live: hbDNNTaskHandle_t[] = [];
    for (let i = 0; i < 32; i++) {
      const task: { value: hbDNNTaskHandle_t | null } = { value: null };
      ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
      live.push(task.value!);
    }
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    assert.equal(hbDNNInfer(task, outputs, inputs, m.model, ctrl()), HB_DNN_TASK_NUM_EXCEED_LIMIT);
    assert.equal(task.value, null, 'no change');
    assert.match(hbDNNGetLastError()!.message, /32 model tasks are live/);
    ok(hbDNNWaitTaskDone(live[0]!, 0));
    ok(hbDNNReleaseTask(live[0]!));
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
    for (const t of [...live.slice(1), task.value!]) {
      ok(hbDNNWaitTaskDone(t, 0));
      ok(hbDNNReleaseTask(t));
    }
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('a task released while it runs counts against the 32 until it ends, as libdnn counts it', async () => {
    const m = load(affine);
    const io = tensors(m.model, false);
    const control = new Int32Array(currentMachine().board.share.bpu.control);
    // The task released must be running, not queued (a queued one is cancelled and counts
    // no more), and still running when the 32nd task is asked for. A thread descheduled
    // longer than the task ran finds it ended, so each attempt runs a longer one (chains of
    // matrix products); one refusal is the proof.
    const outcomes: string[] = [];
    for (const products of [6, 24, 96]) {
      const chain = load(writeModel(dir, `chain-${products}`, chainModel(192, products)));
      const ahead = tensors(chain.model, false);
      const running: { value: hbDNNTaskHandle_t | null } = { value: null };
      ok(hbDNNInfer(running, ahead.outputs, ahead.inputs, chain.model, ctrl()));
      // Until the BPU has started it (nothing else is queued).
      while (Atomics.load(control, STARTED) < Atomics.load(control, HEAD)) {
        await new Promise((r) => setImmediate(r));
      }
      ok(hbDNNReleaseTask(running.value!));
      const live: hbDNNTaskHandle_t[] = [];
      for (let i = 0; i < 31; i++) {
        const task: { value: hbDNNTaskHandle_t | null } = { value: null };
        ok(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()));
        live.push(task.value!);
      }
      const last: { value: hbDNNTaskHandle_t | null } = { value: null };
      const code = hbDNNInfer(last, io.outputs, io.inputs, m.model, ctrl());
      if (code === HB_DNN_TASK_NUM_EXCEED_LIMIT) {
        assert.equal(last.value, null, 'no change');
        assert.match(
          hbDNNGetLastError()!.message,
          /32 model tasks are live.*1 released but still running/,
        );
        // The 31 run after it: once one is done, the released task has ended, and counts
        // no more.
        ok(hbDNNWaitTaskDone(live[0]!, 0));
        ok(hbDNNInfer(last, io.outputs, io.inputs, m.model, ctrl()));
        outcomes.push('refused while it ran');
      } else {
        ok(code);
        outcomes.push('it had ended');
      }
      for (const t of [...live, last.value!]) {
        ok(hbDNNWaitTaskDone(t, 0));
        ok(hbDNNReleaseTask(t));
      }
      freeAll([...ahead.inputs, ...ahead.outputs]);
      ok(hbDNNRelease(chain.packed));
      if (code === HB_DNN_TASK_NUM_EXCEED_LIMIT) break;
    }
    freeAll([...io.inputs, ...io.outputs]);
    ok(hbDNNRelease(m.packed));
    assert.ok(outcomes.includes('refused while it ran'), `outcomes: ${outcomes}`);
  });

  test('the thread that started the BPU worker does not take a long job for its end', async () => {
    // The worker beats no heart while a job computes (a model load under qemu took more
    // than SILENT_MS); the thread that started it hears of its end from its Worker, so it
    // waits. Here the heart's last beat is made a minute old while a long task computes.
    const chain = load(writeModel(dir, 'chain-long', chainModel(192, 24)));
    const io = tensors(chain.model, false);
    const bpu = currentMachine().board.share.bpu;
    const control = new Int32Array(bpu.control);
    const heartbeat = new Float64Array(bpu.control, HEARTBEAT_AT, 1);
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(hbDNNInfer(task, io.outputs, io.inputs, chain.model, ctrl()));
    while (Atomics.load(control, STARTED) < Atomics.load(control, HEAD)) {
      await new Promise((r) => setImmediate(r));
    }
    heartbeat[0] = Date.now() - 60_000;
    ok(hbDNNWaitTaskDone(task.value!, 0));
    ok(hbDNNReleaseTask(task.value!));
    freeAll([...io.inputs, ...io.outputs]);
    ok(hbDNNRelease(chain.packed));
  });

  test('a timeout returns HB_DNN_TIMEOUT and the task goes on; waiting again finishes it', async () => {
    const m = load(affine);
    const { inputs, outputs } = tensors(m.model, false);
    // The BPU's one queue: the model task waits behind long ones (chains of matrix
    // products: milliseconds of compute for one cheap submission). A thread descheduled for
    // longer than the work ahead (a loaded machine) finds the task done, so each attempt
    // queues more ahead; one attempt that times out is the proof.
    const chain = load(writeModel(dir, 'chain', chainModel()));
    const ahead = tensors(chain.model, false);
    const codes: number[] = [];
    for (const tasksAhead of [1, 4, 16]) {
      const aheadTasks = Array.from({ length: tasksAhead }, () => {
        const t: { value: hbDNNTaskHandle_t | null } = { value: null };
        ok(hbDNNInfer(t, ahead.outputs, ahead.inputs, chain.model, ctrl()));
        return t.value!;
      });
      const task: { value: hbDNNTaskHandle_t | null } = { value: null };
      ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
      const began = performance.now();
      const code = hbDNNWaitTaskDone(task.value!, 1);
      codes.push(code);
      if (code !== 0) {
        assert.equal(code, sys.HB_DNN_TIMEOUT);
        assert.ok(performance.now() - began < 500, 'the wait honours its timeout');
        assert.match(hbDNNGetLastError()!.message, /did not complete within 1 ms/);
      }
      ok(hbDNNWaitTaskDone(task.value!, -1));
      ok(hbDNNWaitTaskDone(task.value!, 0)); // a second wait of a completed task
      ok(hbDNNReleaseTask(task.value!));
      for (const t of aheadTasks) {
        ok(hbDNNWaitTaskDone(t, 0));
        ok(hbDNNReleaseTask(t));
      }
      if (code !== 0) break;
    }
    assert.ok(codes.includes(sys.HB_DNN_TIMEOUT), `the waits returned ${codes.join(', ')}`);
    freeAll([...ahead.inputs, ...ahead.outputs]);
    ok(hbDNNRelease(chain.packed));
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test("a model that fails on the BPU: RUN_TASK_FAILED with the runtime's reason", () => {
    // Gather with an index taken from the input: out of range only when it runs.
    const file = writeModel(
      dir,
      'fails',
      buildModel({
        inputs: [{ name: 'x', dims: [1] }],
        outputs: [{ name: 'y', dims: [1] }],
        initializers: [{ name: 'table', dims: [4], values: [1, 2, 3, 4] }],
        nodes: [
          { op: 'Cast', inputs: ['x'], outputs: ['index'], attributes: [{ name: 'to', i: 7 }] },
          { op: 'Gather', inputs: ['table', 'index'], outputs: ['y'] },
        ],
      }),
    );
    const m = load(file);
    const { inputs, outputs } = tensors(m.model, false);
    f32(inputs[0]!)[0] = 2;
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
    ok(hbDNNWaitTaskDone(task.value!, 0));
    assert.equal(f32(outputs[0]!)[0], 3, 'in range: it runs');
    ok(hbDNNReleaseTask(task.value!));
    f32(inputs[0]!)[0] = 100;
    task.value = null;
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
    assert.equal(hbDNNWaitTaskDone(task.value!, 0), sys.HB_DNN_RUN_TASK_FAILED);
    assert.match(
      hbDNNGetLastError()!.message,
      /model task #\d+ \(model 'fails'\) failed on the BPU: .+/,
    );
    assert.equal(hbDNNWaitTaskDone(task.value!, 0), sys.HB_DNN_RUN_TASK_FAILED, 'the same again');
    ok(hbDNNReleaseTask(task.value!));
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });

  test('hbDNNGetErrorDesc describes hbDNN and hbSys codes', () => {
    assert.equal(hbDNNGetErrorDesc(sys.HB_DNN_TIMEOUT), 'HB_DNN_TIMEOUT (-6000008): timed out');
    assert.match(hbDNNGetErrorDesc(sys.HB_SYS_OUT_OF_MEMORY), /HB_SYS_OUT_OF_MEMORY/);
    assert.equal(hbDNNGetErrorDesc(42), 'unknown status code 42');
  });
});

describe('hbDNN: the cache model on model I/O', () => {
  test('a missing CLEAN feeds the model stale input; a missing INVALIDATE reads a stale output', () => {
    const m = load(affine);
    const { inputs, outputs } = tensors(m.model);
    const input = f32(inputs[0]!);
    input.fill(10);
    ok(hbSysFlushMem(inputs[0]!.sysMem[0]!, HB_SYS_MEM_CACHE_CLEAN));
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
    ok(hbDNNWaitTaskDone(task.value!, 0));
    ok(hbDNNReleaseTask(task.value!));
    // No INVALIDATE: the CPU still sees its own (zero) copy of the output.
    assert.ok(
      f32(outputs[0]!).every((x) => x === 0),
      'stale output without INVALIDATE',
    );
    ok(hbSysFlushMem(outputs[0]!.sysMem[0]!, HB_SYS_MEM_CACHE_INVALIDATE));
    assert.ok(f32(outputs[0]!).every((x) => x === 21));
    // New input, no CLEAN: the BPU reads the old input from memory.
    input.fill(100);
    task.value = null;
    ok(hbDNNInfer(task, outputs, inputs, m.model, ctrl()));
    ok(hbDNNWaitTaskDone(task.value!, 0));
    ok(hbDNNReleaseTask(task.value!));
    ok(hbSysFlushMem(outputs[0]!.sysMem[0]!, HB_SYS_MEM_CACHE_INVALIDATE));
    assert.ok(
      f32(outputs[0]!).every((x) => x === 21),
      'stale input without CLEAN',
    );
    freeAll([...inputs, ...outputs]);
    ok(hbDNNRelease(m.packed));
  });
});
