/**
 * hbDNNResize on the emulated BPU: the device kernel against its CPU reference on random
 * images, ROIs and sizes for every image type; the reference on cases worked by hand; and
 * what hbDNNResize refuses.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  emulator,
  HB_DNN_API_USE_ERROR,
  HB_DNN_IMG_TYPE_BGR,
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_IMG_TYPE_RGB,
  HB_DNN_IMG_TYPE_Y,
  HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_LAYOUT_NCHW,
  HB_DNN_LAYOUT_NHWC,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_DNN_TENSOR_TYPE_F32,
  HB_SYS_INVALID_ARGUMENT,
  hbDNNGetLastError,
  hbDNNReleaseTask,
  hbDNNResize,
  type hbDNNResizeCtrlParam,
  type hbDNNRoi,
  type hbDNNTaskHandle_t,
  type hbDNNTensor,
  type hbDNNTensorProperties,
  hbDNNWaitTaskDone,
  hbSysAllocMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  NONE,
  type ResizeFormat,
  referenceKernels,
} from '../../../src/index.js';
import { ok } from '../../dnn/helpers.js';

before(() => emulator.reset({ heapSize: 32 << 20, vioSize: 1 << 20 }));

function props(
  type: number,
  valid: number[],
  aligned: number[],
  layout: number,
): hbDNNTensorProperties {
  const shape = (d: number[]) => ({ dimensionSize: [...d, 0, 0, 0, 0], numDimensions: 4 });
  return {
    validShape: shape(valid),
    alignedShape: shape(aligned),
    tensorLayout: layout,
    tensorType: type,
    shift: { shiftLen: 0, shiftData: null },
    scale: { scaleLen: 0, scaleData: null, zeroPointLen: 0, zeroPointData: null },
    quantiType: NONE,
    quantizeAxis: 0,
    alignedByteSize: 0,
    stride: [0, 0, 0, 0, 0, 0, 0, 0],
  };
}

interface Image {
  format: ResizeFormat;
  type: number;
  width: number;
  height: number;
  stride: number;
  tensor: hbDNNTensor;
  bytes: number;
}

/** An image tensor in uncached memory (the test is about the kernel, not the cache). */
function image(format: ResizeFormat, width: number, height: number, separate = false): Image {
  const stride =
    format === 'y' || format === 'nv12'
      ? Math.ceil(width / 16) * 16
      : format === 'packed3'
        ? width * 3
        : width;
  const type =
    format === 'y'
      ? HB_DNN_IMG_TYPE_Y
      : format === 'nv12'
        ? separate
          ? HB_DNN_IMG_TYPE_NV12_SEPARATE
          : HB_DNN_IMG_TYPE_NV12
        : format === 'packed3'
          ? HB_DNN_IMG_TYPE_BGR
          : HB_DNN_IMG_TYPE_RGB;
  const c = format === 'y' ? 1 : 3;
  const p =
    format === 'packed3'
      ? props(type, [1, height, width, 3], [1, height, width, 3], HB_DNN_LAYOUT_NHWC)
      : props(
          type,
          [1, c, height, width],
          [1, c, height, format === 'planar3' ? width : stride],
          HB_DNN_LAYOUT_NCHW,
        );
  const bytes = sizeOf(format, stride, height);
  const sysMem: hbSysMem[] = [];
  if (separate) {
    sysMem.push({} as hbSysMem, {} as hbSysMem);
    assert.equal(hbSysAllocMem(sysMem[0]!, stride * height), 0);
    assert.equal(hbSysAllocMem(sysMem[1]!, (stride * height) / 2), 0);
  } else {
    sysMem.push({} as hbSysMem);
    assert.equal(hbSysAllocMem(sysMem[0]!, bytes), 0);
  }
  return { format, type, width, height, stride, tensor: { sysMem, properties: p }, bytes };
}

function sizeOf(format: ResizeFormat, stride: number, height: number): number {
  return format === 'nv12'
    ? (stride * height * 3) / 2
    : format === 'planar3'
      ? stride * height * 3
      : stride * height;
}

function bytesOf(img: Image): Uint8Array {
  if (img.tensor.sysMem.length === 1) return img.tensor.sysMem[0]!.virAddr!;
  const all = new Uint8Array(img.bytes);
  all.set(img.tensor.sysMem[0]!.virAddr!);
  all.set(img.tensor.sysMem[1]!.virAddr!, img.tensor.sysMem[0]!.memSize);
  return all;
}

function fillImage(img: Image, seed: number): void {
  let s = seed >>> 0;
  for (const m of img.tensor.sysMem) {
    const v = m.virAddr!;
    for (let i = 0; i < v.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      v[i] = s >>> 24;
    }
  }
}

function free(...imgs: Image[]): void {
  for (const i of imgs) for (const m of i.tensor.sysMem) hbSysFreeMem(m);
}

function resizeCtrl(): hbDNNResizeCtrlParam {
  const c = {} as hbDNNResizeCtrlParam;
  HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM(c);
  return c;
}

function resize(out: Image, inp: Image, roi: hbDNNRoi | null): number {
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  const code = hbDNNResize(task, out.tensor, inp.tensor, roi, resizeCtrl());
  if (code !== 0) return code;
  ok(hbDNNWaitTaskDone(task.value!, 0));
  ok(hbDNNReleaseTask(task.value!));
  return 0;
}

describe('the resize reference, worked by hand', () => {
  test('same size copies; halving averages pairs (rounded); the ROI is inclusive', () => {
    const src = Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80]);
    const img = { width: 4, height: 2, stride: 4 };
    const full = { left: 0, top: 0, right: 3, bottom: 1 };
    assert.deepEqual([...referenceKernels.resize('y', src, img, full, img)], [...src]);
    const half = referenceKernels.resize('y', src, img, full, { width: 2, height: 1, stride: 2 });
    // Row average then column average: ((10+20)/2 + (50+60)/2)/2 = 35, and 55.
    assert.deepEqual([...half], [35, 55]);
    const roi = referenceKernels.resize(
      'y',
      src,
      img,
      { left: 1, top: 1, right: 2, bottom: 1 },
      { width: 2, height: 1, stride: 2 },
    );
    assert.deepEqual([...roi], [60, 70]);
  });
});

describe('hbDNNResize on the BPU against the reference', () => {
  const formats: [ResizeFormat, boolean][] = [
    ['y', false],
    ['nv12', false],
    ['nv12', true],
    ['packed3', false],
    ['planar3', false],
  ];
  for (const [format, separate] of formats) {
    test(`${format}${separate ? ' (NV12_SEPARATE)' : ''}: random images, ROIs and sizes`, () => {
      const even = format === 'nv12';
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1, max: 24 }),
          fc.integer({ min: 1, max: 24 }),
          fc.nat(),
          fc.nat(),
          fc.nat(),
          (w0, h0, ow0, oh0, a, b, seed) => {
            const k = even ? 2 : 1;
            const [w, h, ow, oh] = [w0 * k, h0 * k, ow0 * k, oh0 * k];
            const left = (a % w0) * k;
            const top = (b % h0) * k;
            const right = w - 1 - ((a >> 8) % (w0 - left / k)) * k;
            const bottom = h - 1 - ((b >> 8) % (h0 - top / k)) * k;
            const roi = { left, top, right, bottom };
            const inp = image(format, w, h, separate);
            const out = image(format, ow, oh, separate);
            fillImage(inp, seed);
            const code = resize(out, inp, roi);
            if (code !== 0) {
              free(inp, out);
              assert.match(hbDNNGetLastError()!.message, /scale/);
              return;
            }
            const expected = referenceKernels.resize(
              format,
              bytesOf(inp),
              { width: w, height: h, stride: inp.stride },
              roi,
              { width: ow, height: oh, stride: out.stride },
            );
            const got = bytesOf(out);
            free(inp, out);
            // Padding bytes of the rows (stride > width) are not part of the image.
            for (let i = 0; i < expected.length; i++) {
              if (expected[i] !== got[i]) {
                assert.fail(`byte ${i}: device ${got[i]}, reference ${expected[i]}`);
              }
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  test('a null ROI is the whole image', () => {
    const inp = image('y', 8, 4);
    const out = image('y', 4, 2);
    fillImage(inp, 7);
    ok(resize(out, inp, null));
    const expected = referenceKernels.resize(
      'y',
      bytesOf(inp),
      { width: 8, height: 4, stride: 16 },
      { left: 0, top: 0, right: 7, bottom: 3 },
      { width: 4, height: 2, stride: 16 },
    );
    assert.deepEqual([...bytesOf(out)], [...expected]);
    free(inp, out);
  });
});

describe('what hbDNNResize refuses', () => {
  test('each bad input: its code, a message that says what to do, no change', () => {
    const nv = image('nv12', 32, 16);
    const out = image('nv12', 16, 8);
    const y = image('y', 32, 16);
    const wide = image('nv12', 4096, 8);
    const tiny = image('y', 2, 2);
    const big = image('y', 400, 4);
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    const before = JSON.stringify(emulator.stats());
    const expect = (code: number, re: RegExp, call: () => number) => {
      assert.equal(call(), code, hbDNNGetLastError()?.message);
      assert.match(hbDNNGetLastError()!.message, re);
      assert.equal(task.value, null);
      assert.equal(JSON.stringify(emulator.stats()), before);
    };
    const c = resizeCtrl();
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /input and output must have the same tensorType, got HB_DNN_IMG_TYPE_NV12 \(1\) and HB_DNN_IMG_TYPE_Y \(0\)/,
      () => hbDNNResize(task, y.tensor, nv.tensor, null, c),
    );
    const f32 = {
      ...nv.tensor,
      properties: { ...nv.tensor.properties, tensorType: HB_DNN_TENSOR_TYPE_F32 },
    };
    expect(HB_DNN_INVALID_ARGUMENT, /properties.tensorType must be an image type/, () =>
      hbDNNResize(task, out.tensor, f32, null, c),
    );
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /the ROI \[0, 0\] … \[32, 15\] \(inclusive\) must lie inside the 32x16 input/,
      () => hbDNNResize(task, out.tensor, nv.tensor, { left: 0, top: 0, right: 32, bottom: 15 }, c),
    );
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /for NV12 the ROI needs even left and top and an even width and height/,
      () => hbDNNResize(task, out.tensor, nv.tensor, { left: 1, top: 0, right: 8, bottom: 7 }, c),
    );
    expect(HB_DNN_INVALID_ARGUMENT, /widths and the output height must be at most 4080/, () =>
      hbDNNResize(task, wide.tensor, nv.tensor, null, c),
    );
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /the width scale 2\/400 is outside \[1\/185, 256\): resize in two steps/,
      () => hbDNNResize(task, tiny.tensor, big.tensor, null, c),
    );
    const narrowStride = {
      ...y.tensor,
      properties: props(HB_DNN_IMG_TYPE_Y, [1, 1, 16, 20], [1, 1, 16, 20], HB_DNN_LAYOUT_NCHW),
    };
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /row stride \(alignedShape W\) is 20: it must be a multiple of 16/,
      () => hbDNNResize(task, tiny.tensor, narrowStride, null, c),
    );
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /resizeCtrlParam.resizeType must be HB_DNN_RESIZE_TYPE_BILINEAR \(0\), got 1/,
      () => hbDNNResize(task, out.tensor, nv.tensor, null, { ...c, resizeType: 1 }),
    );
    expect(HB_DNN_INVALID_ARGUMENT, /roi must be \{ left, top, right, bottom \} or null/, () =>
      hbDNNResize(task, out.tensor, nv.tensor, 5 as never, c),
    );
    const small = { ...out.tensor, sysMem: [{ ...out.tensor.sysMem[0]!, memSize: 100 }] };
    expect(
      HB_DNN_INVALID_ARGUMENT,
      /output: sysMem\[0\].memSize is 100 but its aligned shape \(1, 3, 8, 16\) needs 192 bytes/,
      () => hbDNNResize(task, small, nv.tensor, null, c),
    );
    const held = { value: {} as hbDNNTaskHandle_t };
    assert.equal(hbDNNResize(held, out.tensor, nv.tensor, null, c), HB_DNN_API_USE_ERROR);
    assert.match(hbDNNGetLastError()!.message, /taskHandle.value must be null on entry/);
    free(nv, out, y, wide, tiny, big);
  });

  test('a resize task holds its images (both planes of NV12_SEPARATE) until the wait', () => {
    const inp = image('nv12', 32, 8, true);
    const out = image('nv12', 16, 4, true);
    const task: { value: hbDNNTaskHandle_t | null } = { value: null };
    ok(hbDNNResize(task, out.tensor, inp.tensor, null, resizeCtrl()));
    for (const m of [...inp.tensor.sysMem, ...out.tensor.sysMem]) {
      assert.equal(hbSysFreeMem(m), HB_SYS_INVALID_ARGUMENT);
      assert.match(hbSysGetLastError()!.message, /of resize task #\d+ .*hbDNNWaitTaskDone/);
      assert.ok(m.virAddr !== null);
    }
    ok(hbDNNWaitTaskDone(task.value!, 0));
    ok(hbDNNReleaseTask(task.value!));
    free(inp, out);
  });

  test('at most 32 live resize tasks', () => {
    const inp = image('y', 16, 4);
    const out = image('y', 16, 4);
    const tasks: hbDNNTaskHandle_t[] = [];
    for (let i = 0; i < 32; i++) {
      const t: { value: hbDNNTaskHandle_t | null } = { value: null };
      ok(hbDNNResize(t, out.tensor, inp.tensor, null, resizeCtrl()));
      tasks.push(t.value!);
    }
    const t: { value: hbDNNTaskHandle_t | null } = { value: null };
    assert.equal(
      hbDNNResize(t, out.tensor, inp.tensor, null, resizeCtrl()),
      HB_DNN_TASK_NUM_EXCEED_LIMIT,
    );
    for (const x of tasks) {
      ok(hbDNNWaitTaskDone(x, 0));
      ok(hbDNNReleaseTask(x));
    }
    free(inp, out);
  });
});
