/**
 * Each BPU kernel against its plain CPU reference, on random inputs: the device versions
 * run in the worker over physical memory and must produce the reference's bytes exactly.
 * The references themselves are checked on cases worked out by hand.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { allocate, emulator, referenceKernels } from '../../src/index.js';

before(() => emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 }));

/** Uncached device memory holding `bytes` (no flush needed: the test is about kernels). */
function deviceBytes(bytes: Uint8Array | Int8Array | Int32Array) {
  const b = allocate(Math.max(1, bytes.byteLength));
  b.write(bytes);
  return b;
}

describe('references, worked by hand', () => {
  test('nv12ToRgb: mid grey stays grey, pure Y levels map to BT.601 limited range', () => {
    const frame = new Uint8Array(4 * 2 * 1.5);
    frame.fill(126, 0, 8); // Y
    frame.fill(128, 8); // U, V neutral
    const grey = referenceKernels.nv12ToRgb(frame, {
      srcWidth: 4,
      srcHeight: 2,
      dstWidth: 2,
      dstHeight: 1,
    });
    // (1192 · 110 + 512) >> 10 = 128
    assert.deepEqual([...grey], [128, 128, 128, 128, 128, 128]);
    frame.fill(16, 0, 8);
    assert.deepEqual(
      [
        ...referenceKernels.nv12ToRgb(frame, {
          srcWidth: 4,
          srcHeight: 2,
          dstWidth: 1,
          dstHeight: 1,
        }),
      ],
      [0, 0, 0],
    );
    frame.fill(235, 0, 8);
    assert.deepEqual(
      [
        ...referenceKernels.nv12ToRgb(frame, {
          srcWidth: 4,
          srcHeight: 2,
          dstWidth: 1,
          dstHeight: 1,
        }),
      ],
      [255, 255, 255],
    );
  });

  test('nv12ToRgb: a strong V gives red, and bgr swaps the channels', () => {
    const frame = new Uint8Array(2 * 2 * 1.5);
    frame.fill(81, 0, 4); // Y
    frame[4] = 90; // U
    frame[5] = 240; // V
    const rgb = referenceKernels.nv12ToRgb(frame, {
      srcWidth: 2,
      srcHeight: 2,
      dstWidth: 1,
      dstHeight: 1,
    });
    assert.ok(rgb[0]! > 200 && rgb[1]! < 60 && rgb[2]! < 60, `red expected, got ${[...rgb]}`);
    const bgr = referenceKernels.nv12ToRgb(frame, {
      srcWidth: 2,
      srcHeight: 2,
      dstWidth: 1,
      dstHeight: 1,
      order: 'bgr',
    });
    assert.deepEqual([...bgr], [rgb[2], rgb[1], rgb[0]]);
  });

  test('nv12ToRgb: upscaling interpolates between neighbours', () => {
    // Y row 16, 235 over a 2x2 frame; 4 outputs across: 0, some grey, some grey, 255.
    const frame = new Uint8Array([16, 235, 16, 235, 128, 128]);
    const out = referenceKernels.nv12ToRgb(frame, {
      srcWidth: 2,
      srcHeight: 2,
      dstWidth: 4,
      dstHeight: 1,
    });
    const reds = [out[0], out[3], out[6], out[9]];
    assert.equal(reds[0], 0);
    assert.equal(reds[3], 255);
    assert.ok(reds[1]! > 0 && reds[1]! < reds[2]! && reds[2]! < 255, `monotonic: ${reds}`);
  });

  test('conv3x3Int8: the centre tap only, with bias and requantisation', () => {
    // 1x1 image, 1 channel in and out: acc = bias + (x - zp) · w_centre.
    const weights = new Int8Array(9);
    weights[4] = 3;
    const out = referenceKernels.conv3x3Int8(new Uint8Array([138]), weights, new Int32Array([5]), {
      height: 1,
      width: 1,
      inChannels: 1,
      outChannels: 1,
      multiplier: 1,
      shift: 1,
    });
    // acc = 5 + 10 · 3 = 35; (35 + 1) >> 1 = 18
    assert.deepEqual([...out], [18]);
  });

  test('conv3x3Int8: a 3x3 box filter sums the neighbourhood, zero padded; clamp and relu', () => {
    const input = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9], (v) => v + 128);
    const ones = new Int8Array(9).fill(1);
    const shape = { height: 3, width: 3, inChannels: 1, outChannels: 1, multiplier: 1, shift: 0 };
    const out = referenceKernels.conv3x3Int8(input, ones, new Int32Array([0]), shape);
    assert.deepEqual([...out], [12, 21, 16, 27, 45, 33, 24, 39, 28]);
    const high = referenceKernels.conv3x3Int8(input, ones, new Int32Array([100]), {
      ...shape,
      multiplier: 8,
    });
    assert.equal(high[4], 127, 'clamped high: (45 + 100) · 8');
    const low = referenceKernels.conv3x3Int8(input, ones, new Int32Array([-100]), {
      ...shape,
      multiplier: 8,
    });
    assert.equal(low[0], -128, 'clamped low: (12 - 100) · 8');
    const relu = referenceKernels.conv3x3Int8(input, ones, new Int32Array([-100]), {
      ...shape,
      relu: true,
    });
    assert.equal(relu[0], 0);
  });
});

describe('device kernels match their references', () => {
  test('copy and fill', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 5000 }),
        fc.integer({ min: 0, max: 255 }),
        async (data, value) => {
          using src = deviceBytes(data);
          using dst = allocate(data.length);
          await emulator.bpu.run('copy', { dst: dst.phyAddr, src: src.phyAddr, size: data.length });
          assert.deepEqual(dst.read(), referenceKernels.copy(data));
          await emulator.bpu.run('fill', { dst: dst.phyAddr, value, size: data.length });
          assert.deepEqual(dst.read(), referenceKernels.fill(value, data.length));
        },
      ),
      { numRuns: 40 },
    );
  });

  test('nv12ToRgb, random frames and sizes, up and down, rgb and bgr', async () => {
    const shape = fc.record({
      srcWidth: fc.integer({ min: 1, max: 24 }).map((n) => n * 2),
      srcHeight: fc.integer({ min: 1, max: 24 }).map((n) => n * 2),
      dstWidth: fc.integer({ min: 1, max: 40 }),
      dstHeight: fc.integer({ min: 1, max: 40 }),
      order: fc.constantFrom<'rgb' | 'bgr'>('rgb', 'bgr'),
    });
    await fc.assert(
      fc.asyncProperty(shape, fc.integer(), async (s, seed) => {
        const frame = new Uint8Array((s.srcWidth * s.srcHeight * 3) / 2);
        let x = seed | 1;
        for (let i = 0; i < frame.length; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          frame[i] = x & 0xff;
        }
        using src = deviceBytes(frame);
        using dst = allocate(s.dstWidth * s.dstHeight * 3);
        await emulator.bpu.run('nv12ToRgb', { src: src.phyAddr, dst: dst.phyAddr, ...s });
        assert.deepEqual(dst.read(), referenceKernels.nv12ToRgb(frame, s));
      }),
      { numRuns: 60 },
    );
  });

  test('conv3x3Int8, random tensors, weights, bias and requantisation', async () => {
    const shape = fc.record({
      height: fc.integer({ min: 1, max: 9 }),
      width: fc.integer({ min: 1, max: 9 }),
      inChannels: fc.integer({ min: 1, max: 6 }),
      outChannels: fc.integer({ min: 1, max: 7 }),
      inputZeroPoint: fc.integer({ min: 0, max: 255 }),
      multiplier: fc.integer({ min: 1, max: 1 << 15 }),
      shift: fc.integer({ min: 0, max: 24 }),
      relu: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(shape, fc.integer(), async (s, seed) => {
        let x = seed | 1;
        const next = () => {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          return x;
        };
        const input = Uint8Array.from(
          { length: s.height * s.width * s.inChannels },
          () => next() & 0xff,
        );
        const weights = Int8Array.from(
          { length: s.outChannels * 9 * s.inChannels },
          () => next() & 0xff,
        );
        const bias = Int32Array.from({ length: s.outChannels }, () => next() % 100000);
        using inBuf = deviceBytes(input);
        using wBuf = deviceBytes(weights);
        using bBuf = deviceBytes(bias);
        using out = allocate(s.height * s.width * s.outChannels);
        await emulator.bpu.run('conv3x3Int8', {
          input: inBuf.phyAddr,
          weights: wBuf.phyAddr,
          bias: bBuf.phyAddr,
          output: out.phyAddr,
          ...s,
        });
        const got = new Int8Array(out.read().buffer);
        assert.deepEqual(got, referenceKernels.conv3x3Int8(input, weights, bias, s));
      }),
      { numRuns: 60 },
    );
  });
});

describe('kernel arguments', () => {
  test('bad arguments reject with INVALID_ARGUMENT that names the argument', async () => {
    using b = allocate(4096);
    const cases: [string, unknown, RegExp][] = [
      ['nope', {}, /unknown kernel 'nope'/],
      ['copy', null, /args must be an object/],
      ['copy', { dst: 1, src: b.phyAddr, size: 1 }, /dst must be a physical address as a bigint/],
      ['fill', { dst: b.phyAddr, value: 256, size: 1 }, /value \(a byte\)/],
      [
        'nv12ToRgb',
        { src: b.phyAddr, dst: b.phyAddr, srcWidth: 3, srcHeight: 2, dstWidth: 1, dstHeight: 1 },
        /even srcWidth/,
      ],
      [
        'nv12ToRgb',
        {
          src: b.phyAddr,
          dst: b.phyAddr,
          srcWidth: 4,
          srcHeight: 2,
          dstWidth: 1,
          dstHeight: 1,
          order: 'rbg',
        },
        /order/,
      ],
      [
        'conv3x3Int8',
        {
          input: b.phyAddr,
          weights: b.phyAddr,
          bias: b.phyAddr,
          output: b.phyAddr,
          height: 1,
          width: 1,
          inChannels: 1,
          outChannels: 1,
          multiplier: 0,
          shift: 0,
        },
        /multiplier/,
      ],
    ];
    for (const [kernel, args, message] of cases) {
      await assert.rejects(
        emulator.bpu.run(kernel as 'copy', args as never),
        (e: Error & { code?: number }) => {
          assert.equal(e.code, -6000129);
          assert.match(e.message, message);
          return true;
        },
      );
    }
  });

  test('a tensor past the end of its buffer rejects and names the address', async () => {
    using frame = allocate(100);
    using rgb = allocate(12);
    await assert.rejects(
      emulator.bpu.run('nv12ToRgb', {
        src: frame.phyAddr,
        dst: rgb.phyAddr,
        srcWidth: 10,
        srcHeight: 10,
        dstWidth: 2,
        dstHeight: 2,
      }),
      new RegExp(
        `src \\(NV12 frame\\) \\[0x0*${frame.phyAddr.toString(16)}, 0x0*${(frame.phyAddr + 150n).toString(16)}\\)`,
      ),
    );
  });
});
