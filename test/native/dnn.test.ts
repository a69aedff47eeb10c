/**
 * The native hbDNN backend against the C stand-in, in every struct generation: loading,
 * names, counts, properties as each generation lays them out, and inference with data
 * through hbSys memory (alloc cached, write, CLEAN, infer, wait, INVALIDATE, read).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HB_DNN_INCOMPATIBLE_MODEL } from '../../src/dnn/status.js';
import {
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_LAYOUT_NHWC,
  HB_DNN_LAYOUT_NONE,
  HB_DNN_TENSOR_TYPE_F32,
  HB_DNN_TENSOR_TYPE_S8,
  HB_DNN_TENSOR_TYPE_S32,
  HB_DNN_TENSOR_TYPE_U8,
  type hbDNNOut,
  type hbDNNResizeCtrlParam,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  SCALE,
  SHIFT,
} from '../../src/dnn/types.js';
import {
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  type hbSysMem,
} from '../../src/mem.js';
import { createNativeBackend } from '../../src/native/backend.js';
import { loadLibdnn } from '../../src/native/libdnn.js';
import { HB_SYS_INVALID_ARGUMENT, HbSysError, hbSysGetLastError } from '../../src/status.js';
import {
  alloc,
  ctrl,
  expected,
  fails,
  free,
  freshStandin,
  loadModels,
  ok,
  type Standin,
  snap,
  standin,
  tensorProperties,
  VARIANTS,
  writeModel,
} from './dnn-harness.js';
import { DNN_VARIANTS, hbSysOnlyPath } from './standin.js';

/** Two models: a quantised image model, and one with two inputs and two outputs. */
export const MODELS = `hbsys-standin-model 1
model quant
input  image  type=U8 layout=NHWC valid=1x4x4x3 aligned=1x4x4x4 quanti=SCALE scale=0.5,0.25,0.125 zp=1,-2,3 axis=3
output logits type=S8 layout=NHWC valid=1x4x4x3 aligned=1x4x4x4 from=image k=3 b=7 quanti=SHIFT shift=1,2,3
model pair
input  a type=F32 layout=NCHW valid=1x2x3x5
input  b type=U8  layout=NHWC valid=1x2x2x2
output y type=S32 layout=NHWC valid=1x2x2x2 from=b k=2 b=1
output z type=U8  layout=NONE valid=10 from=a k=1 b=0
`;

/** The stand-in's contiguous byte strides over an aligned shape (generation C). */
function strides(dims: number[], element: number): number[] {
  const out = new Array<number>(dims.length);
  let step = element;
  for (let i = dims.length - 1; i >= 0; i--) {
    out[i] = step;
    step *= dims[i]!;
  }
  return out;
}

const load = (s: Standin, text = MODELS) => loadModels(s, writeModel(text));
const properties = tensorProperties;

/** A Y image (NCHW 1x1xHxW) whose rows are `stride` bytes apart. */
function yImage(h: number, w: number, stride: number): hbDNNTensorProperties {
  const shape = (width: number) => ({ dimensionSize: [1, 1, h, width], numDimensions: 4 });
  return {
    validShape: shape(w),
    alignedShape: shape(stride),
    tensorLayout: HB_DNN_LAYOUT_NCHW,
    tensorType: HB_DNN_IMG_TYPE_Y,
    shift: { shiftLen: 0, shiftData: null },
    scale: { scaleLen: 0, scaleData: null, zeroPointLen: 0, zeroPointData: null },
    quantiType: 0,
    quantizeAxis: 0,
    alignedByteSize: h * stride,
    stride: [0, 0, 0, 0],
  };
}

function resizeCtrl(over: Partial<hbDNNResizeCtrlParam> = {}): hbDNNResizeCtrlParam {
  return {
    bpuCoreId: 0,
    priority: 0,
    resizeType: 0,
    reserved1: 0,
    reserved2: 0,
    reserved3: 0,
    reserved4: 0,
    ...over,
  };
}

/** A tensor of `p` over fresh cached memory of alignedByteSize bytes. */
function tensor(s: Standin, p: hbDNNTensorProperties): hbDNNTensor {
  return { sysMem: [alloc(s, p.alignedByteSize)], properties: p };
}

/** Fills a tensor's memory, CLEANs it, and returns what was written. */
function fill(s: Standin, t: hbDNNTensor, seed: number): Uint8Array {
  const mem = t.sysMem[0]!;
  const bytes = new Uint8Array(mem.memSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + seed) & 0xff;
  mem.virAddr!.set(bytes);
  assert.equal(s.sys.flushMem(snap(mem), HB_SYS_MEM_CACHE_CLEAN), 0);
  return bytes;
}

/** INVALIDATEs a tensor's memory and reads it (with hbSysReadMem, as C programs do). */
function read(s: Standin, t: hbDNNTensor): Uint8Array {
  const mem = t.sysMem[0]!;
  assert.equal(s.sys.flushMem(snap(mem), HB_SYS_MEM_CACHE_INVALIDATE), 0);
  const out = new Uint8Array(mem.memSize);
  assert.equal(s.sys.readMem(out, snap(mem), mem.memSize), 0);
  return out;
}

for (const variant of VARIANTS) {
  const v = DNN_VARIANTS[variant];
  describe(`libdnn ${v.version} (generation ${v.generation})`, () => {
    const s = standin(variant);
    const probed = /1\.1[0-7]\./.test(v.version);

    test('the version picks the layout, or a probe does once a model is loaded', () => {
      assert.equal(s.api.hbDNNGetVersion(), v.version);
      const { packed, handle } = load(s);
      if (probed) assert.equal(s.dnn.generation, undefined, 'decided before any model');
      properties(s, handle('quant'), 'input', 0);
      assert.equal(s.dnn.generation, v.generation);
      ok(s.api.hbDNNRelease(packed));
    });

    test('names, counts and model handles', () => {
      const packs = s.extras.livePacks();
      const { packed, handle } = load(s);
      assert.equal(s.extras.livePacks(), packs + 1);
      const names: hbDNNOut<readonly string[]> = {};
      const count: hbDNNOut<number> = {};
      ok(s.api.hbDNNGetModelNameList(names, count, packed));
      assert.deepEqual(names.value, ['quant', 'pair']);
      assert.equal(count.value, 2);
      const pair = handle('pair');
      assert.equal(handle('pair'), pair, 'the same model, the same handle');
      assert.notEqual(handle('quant'), pair);
      const n: hbDNNOut<number> = {};
      ok(s.api.hbDNNGetInputCount(n, pair));
      assert.equal(n.value, 2);
      ok(s.api.hbDNNGetOutputCount(n, pair));
      assert.equal(n.value, 2);
      const name: hbDNNOut<string> = {};
      const got: string[] = [];
      for (const i of [0, 1]) {
        ok(s.api.hbDNNGetInputName(name, pair, i));
        got.push(name.value!);
        ok(s.api.hbDNNGetOutputName(name, pair, i));
        got.push(name.value!);
      }
      assert.deepEqual(got, ['a', 'y', 'b', 'z']);
      ok(s.api.hbDNNRelease(packed));
      assert.equal(s.extras.livePacks(), packs);
    });

    test('properties in this generation’s layout, arrays copied out of the library', () => {
      const { packed, handle } = load(s);
      const quant = handle('quant');
      const image = properties(s, quant, 'input', 0);
      const C = v.generation === 'C';
      assert.deepEqual(image, {
        validShape: { dimensionSize: [1, 4, 4, 3], numDimensions: 4 },
        alignedShape: { dimensionSize: [1, 4, 4, 4], numDimensions: 4 },
        tensorLayout: HB_DNN_LAYOUT_NHWC,
        tensorType: HB_DNN_TENSOR_TYPE_U8,
        shift: { shiftLen: 0, shiftData: null },
        scale: {
          scaleLen: 3,
          scaleData: new Float32Array([0.5, 0.25, 0.125]),
          zeroPointLen: v.generation === 'A' ? 0 : 3,
          zeroPointData: v.generation === 'A' ? null : new Int8Array([1, -2, 3]),
        },
        quantiType: SCALE,
        quantizeAxis: C ? 3 : 0,
        alignedByteSize: 64,
        stride: C ? [64, 16, 4, 1] : [0, 0, 0, 0],
      });
      const logits = properties(s, quant, 'output', 0);
      assert.equal(logits.tensorType, HB_DNN_TENSOR_TYPE_S8);
      assert.equal(logits.quantiType, SHIFT);
      assert.deepEqual(logits.shift, { shiftLen: 3, shiftData: new Uint8Array([1, 2, 3]) });
      const pair = handle('pair');
      const a = properties(s, pair, 'input', 0);
      assert.equal(a.tensorLayout, HB_DNN_LAYOUT_NCHW);
      assert.equal(a.tensorType, HB_DNN_TENSOR_TYPE_F32);
      assert.equal(a.alignedByteSize, 2 * 3 * 5 * 4);
      assert.deepEqual(a.stride, C ? strides([1, 2, 3, 5], 4) : [0, 0, 0, 0]);
      const y = properties(s, pair, 'output', 0);
      assert.equal(y.tensorType, HB_DNN_TENSOR_TYPE_S32);
      assert.equal(y.alignedByteSize, 2 * 2 * 2 * 4);
      const z = properties(s, pair, 'output', 1);
      assert.deepEqual(z.validShape, { dimensionSize: [10], numDimensions: 1 });
      assert.equal(z.tensorLayout, HB_DNN_LAYOUT_NONE);
      // Fresh objects: what a caller does to one does not reach the next.
      image.scale.scaleData![0] = 99;
      assert.equal(properties(s, quant, 'input', 0).scale.scaleData![0], 0.5);
      ok(s.api.hbDNNRelease(packed));
    });

    test('infer: write, CLEAN, infer, wait, INVALIDATE, read, through hbSys memory', () => {
      const { packed, handle } = load(s);
      const pair = handle('pair');
      const ins = [0, 1].map((i) => tensor(s, properties(s, pair, 'input', i)));
      const outs = [0, 1].map((i) => tensor(s, properties(s, pair, 'output', i)));
      const a = fill(s, ins[0]!, 1);
      const b = fill(s, ins[1]!, 2);
      for (const o of outs) o.sysMem[0]!.virAddr!.fill(0xee);
      const clean = s.sysExtras.flushCount(HB_SYS_MEM_CACHE_CLEAN);
      const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      ok(s.api.hbDNNInfer(task, outs, ins, pair, ctrl({ priority: 7, customId: 9 })));
      assert.equal(s.extras.lastCtrl(2), 7n, 'priority arrived at offset 8');
      assert.equal(s.extras.lastCtrl(4), v.generation === 'C' ? 9n : 0n, 'customId (C only)');
      ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
      assert.deepEqual(read(s, outs[0]!), expected(b, 8, 32, 2, 1));
      assert.deepEqual(read(s, outs[1]!), expected(a, 120, 10, 1, 0));
      assert.equal(s.sysExtras.flushCount(HB_SYS_MEM_CACHE_CLEAN), clean, 'infer flushes nothing');
      ok(s.api.hbDNNReleaseTask(task.value!));
      assert.equal(s.extras.liveTasks(), 0);
      assert.equal(s.dnn.heldBlocks(), 0);
      for (const t of [...ins, ...outs]) free(s, t.sysMem[0]!);
      ok(s.api.hbDNNRelease(packed));
    });

    test('quantisation arrays reach C intact (the stand-in compares them with the model’s)', () => {
      const { packed, handle } = load(s);
      const quant = handle('quant');
      const input = tensor(s, properties(s, quant, 'input', 0));
      const output = tensor(s, properties(s, quant, 'output', 0));
      const bytes = fill(s, input, 3);
      const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      ok(s.api.hbDNNInfer(task, [output], [input], quant, ctrl()));
      ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
      assert.deepEqual(read(s, output), expected(bytes, 64, 64, 3, 7));
      ok(s.api.hbDNNReleaseTask(task.value!));
      // A changed scale is a different tensor: C refuses it.
      input.properties.scale.scaleData![1] = 0.3;
      const again: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      assert.equal(s.api.hbDNNInfer(again, [output], [input], quant, ctrl()), -6000001);
      assert.equal(again.value, null);
      assert.equal(s.dnn.heldBlocks(), 0, 'the refused call’s block is freed');
      for (const t of [input, output]) free(s, t.sysMem[0]!);
      ok(s.api.hbDNNRelease(packed));
    });

    test(`hbDNNResize ${v.resize ? 'is bound (Y, nearest in the stand-in)' : 'is absent'}`, () => {
      assert.equal(s.dnn.resize !== undefined, v.resize);
      if (!v.resize) return;
      const input = tensor(s, yImage(8, 10, 16));
      const output = tensor(s, yImage(4, 4, 16));
      const src = fill(s, input, 5);
      const roi = { left: 2, top: 1, right: 9, bottom: 6 };
      const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
      ok(s.api.hbDNNResize(task, output, input, roi, resizeCtrl({ priority: 3 })));
      assert.equal(s.extras.lastCtrl(6), 3n, 'resize priority arrived');
      // Not waited for yet: its images are not freed under it.
      for (const t of [input, output]) {
        assert.equal(s.sys.freeMem(snap(t.sysMem[0]!)), HB_SYS_INVALID_ARGUMENT);
        assert.match(hbSysGetLastError()!.message, /of a resize task .*hbDNNWaitTaskDone/);
      }
      ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
      const got = read(s, output);
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) {
          const sy = roi.top + Math.floor((y * 6) / 4);
          const sx = roi.left + Math.floor((x * 8) / 4);
          assert.equal(got[y * 16 + x], src[sy * 16 + sx], `pixel ${x},${y}`);
        }
      }
      ok(s.api.hbDNNReleaseTask(task.value!));
      assert.equal(s.dnn.heldBlocks(), 0);
      for (const t of [input, output]) free(s, t.sysMem[0]!);
    });

    test(`hbDNNGetErrorDesc ${v.errorDesc ? 'comes from the library' : 'is not in this library'}`, () => {
      assert.equal(s.dnn.libraryErrorDesc !== undefined, v.errorDesc);
      if (v.errorDesc) {
        assert.equal(
          s.dnn.libraryErrorDesc!(-6000008),
          'stand-in: the task did not finish in time',
        );
        assert.equal(s.dnn.libraryErrorDesc!(-1), undefined);
        assert.equal(s.dnn.libraryErrorDesc!(2 ** 40), undefined, 'not an int32: not asked');
      }
    });
  });
}

describe('NV12 inputs and registered memory', () => {
  const s = standin('C-1.24.5');
  const NV12 = `hbsys-standin-model 1
model camera
input  frame type=NV12 layout=NCHW valid=1x3x4x8
output out   type=U8   layout=NHWC valid=1x4x8x1 bytes=48 k=1 b=0
`;

  test('an NV12 input switched to NV12_SEPARATE: Y in sysMem[0], UV in sysMem[1]', () => {
    const { packed, handle } = load(s, NV12);
    const camera = handle('camera');
    const p = properties(s, camera, 'input', 0);
    assert.equal(p.tensorType, HB_DNN_IMG_TYPE_NV12);
    assert.equal(p.alignedByteSize, 48);
    assert.deepEqual(p.stride, [0, 0, 0, 0], 'NV12: no strides, as the board');
    const y = alloc(s, 32);
    const uv = alloc(s, 16);
    const frame = new Uint8Array(48).map((_, i) => i * 5);
    y.virAddr!.set(frame.subarray(0, 32));
    uv.virAddr!.set(frame.subarray(32));
    const input: hbDNNTensor = {
      sysMem: [y, uv],
      properties: { ...p, tensorType: HB_DNN_IMG_TYPE_NV12_SEPARATE },
    };
    const output = tensor(s, properties(s, camera, 'output', 0));
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], camera, ctrl()));
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    assert.deepEqual(read(s, output), frame);
    ok(s.api.hbDNNReleaseTask(task.value!));
    for (const m of [y, uv, output.sysMem[0]!]) free(s, m);
    ok(s.api.hbDNNRelease(packed));
  });

  test('NV12_SEPARATE planes as crops of one registered frame, as hobot_dnn builds them', () => {
    const { packed, handle } = load(s, NV12);
    const camera = handle('camera');
    const phyAddr = s.sysExtras.vioAlloc(4096);
    const frame: hbSysMem = { phyAddr, virAddr: null, memSize: 4096 };
    assert.equal(s.sys.registerMem({ phyAddr, memSize: 4096, source: frame }), 0);
    const bytes = new Uint8Array(48).map((_, i) => 7 * i + 3);
    frame.virAddr!.set(bytes.subarray(0, 32), 512);
    frame.virAddr!.set(bytes.subarray(32), 2048);
    const plane = (off: number, memSize: number): hbSysMem => ({
      phyAddr: phyAddr + BigInt(off),
      virAddr: frame.virAddr!.subarray(off),
      memSize,
    });
    const input: hbDNNTensor = {
      sysMem: [plane(512, 32), plane(2048, 16)],
      properties: {
        ...properties(s, camera, 'input', 0),
        tensorType: HB_DNN_IMG_TYPE_NV12_SEPARATE,
      },
    };
    const output = tensor(s, properties(s, camera, 'output', 0));
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], camera, ctrl()));
    assert.equal(s.sys.unregisterMem(snap(frame)), HB_SYS_INVALID_ARGUMENT, 'the task holds it');
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    assert.deepEqual(read(s, output), bytes, 'C read each plane where its crop starts');
    ok(s.api.hbDNNReleaseTask(task.value!));
    assert.equal(s.sys.unregisterMem(snap(frame)), 0);
    s.sysExtras.vioFree(phyAddr);
    free(s, output.sysMem[0]!);
    ok(s.api.hbDNNRelease(packed));
  });

  test('a registered camera buffer is an input: C gets the registration’s own mapping', () => {
    const { packed, handle } = load(s, NV12);
    const camera = handle('camera');
    const phyAddr = s.sysExtras.vioAlloc(4096);
    const reg: hbSysMem = { phyAddr, virAddr: null, memSize: 48 };
    assert.equal(s.sys.registerMem({ phyAddr, memSize: 48, source: reg }), 0);
    const frame = new Uint8Array(48).map((_, i) => 200 - i);
    reg.virAddr!.set(frame);
    const input: hbDNNTensor = { sysMem: [reg], properties: properties(s, camera, 'input', 0) };
    const output = tensor(s, properties(s, camera, 'output', 0));
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [output], [input], camera, ctrl()));
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    assert.deepEqual(read(s, output), frame);
    ok(s.api.hbDNNReleaseTask(task.value!));
    assert.equal(s.sys.unregisterMem(snap(reg)), 0);
    s.sysExtras.vioFree(phyAddr);
    free(s, output.sysMem[0]!);
    ok(s.api.hbDNNRelease(packed));
  });
});

describe('optional and missing symbols', () => {
  test('a libdnn without the model API: dnn() names what is missing', () => {
    const sys = createNativeBackend(loadLibdnn([hbSysOnlyPath()]));
    assert.throws(
      () => sys.dnn(),
      (e: unknown) =>
        e instanceof HbSysError &&
        /not the model API \(no hbDNNGetVersion, hbDNNInitializeFromFiles, .*hbDNNReleaseTask\)/.test(
          e.message,
        ) &&
        /HBSYS_LIBDNN/.test(e.message),
    );
  });

  test('where the version does not tell the layout, resize waits for a model to probe', () => {
    const s = freshStandin('B-1.12.3');
    assert.equal(s.dnn.generation, undefined);
    const input = tensor(s, yImage(4, 4, 16));
    const output = tensor(s, yImage(2, 2, 16));
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    const calls = s.extras.callCount();
    fails(
      s.api.hbDNNResize(task, output, input, null, resizeCtrl()),
      HB_DNN_INCOMPATIBLE_MODEL,
      /between 1\.9\.x .* and 1\.18.*load a model \(hbDNNInitializeFromFiles\) first/,
    );
    assert.equal(s.extras.callCount(), calls, 'refused before C');
    const { packed } = load(s);
    ok(s.api.hbDNNResize(task, output, input, null, resizeCtrl()));
    assert.equal(s.dnn.generation, 'B');
    ok(s.api.hbDNNWaitTaskDone(task.value!, 0));
    ok(s.api.hbDNNReleaseTask(task.value!));
    for (const t of [input, output]) free(s, t.sysMem[0]!);
    ok(s.api.hbDNNRelease(packed));
  });
});
