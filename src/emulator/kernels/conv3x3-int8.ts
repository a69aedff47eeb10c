/**
 * An int8 3x3 convolution layer (stride 1, padding 1) with int32 accumulation and
 * requantisation to int8: the shape of real BPU work. Defined bit for bit in
 * conv3x3-int8.reference.ts; this device version reorders the loops (weights transposed
 * to [3][3][inChannels][outChannels], accumulators for all output channels of a pixel in
 * one Int32Array) and must produce the same bytes.
 */

import type { Conv3x3Shape } from './conv3x3-int8.reference.js';
import { argError, type Kernel, needAddress, needInt, needObject } from './kernel.js';

/** The arguments of the `conv3x3Int8` kernel: its tensors by physical address, and its shape. */
export interface Conv3x3Int8Args extends Conv3x3Shape {
  /** uint8 HWC input, height·width·inChannels bytes. */
  input: bigint;
  /** int8 weights [outChannels][3][3][inChannels]. */
  weights: bigint;
  /** int32 little-endian bias [outChannels]. */
  bias: bigint;
  /** int8 HWC output, height·width·outChannels bytes. */
  output: bigint;
}

const MAX_SIDE = 4096;
/** Keeps |acc| < 2^31: 9 · 1024 channels · 255 · 128 · … is checked below exactly. */
const MAX_CHANNELS = 1024;

export const conv3x3Int8Kernel: Kernel<Conv3x3Int8Args> = {
  name: 'conv3x3Int8',
  plan(args) {
    const k = 'conv3x3Int8';
    const a = needObject(k, args);
    const input = needAddress(k, 'input', a.input);
    const weights = needAddress(k, 'weights', a.weights);
    const bias = needAddress(k, 'bias', a.bias);
    const output = needAddress(k, 'output', a.output);
    const height = needInt(k, 'height', a.height, 1, MAX_SIDE);
    const width = needInt(k, 'width', a.width, 1, MAX_SIDE);
    const inChannels = needInt(k, 'inChannels', a.inChannels, 1, MAX_CHANNELS);
    const outChannels = needInt(k, 'outChannels', a.outChannels, 1, MAX_CHANNELS);
    const zp = needInt(k, 'inputZeroPoint', a.inputZeroPoint ?? 128, 0, 255);
    const multiplier = needInt(k, 'multiplier', a.multiplier, 1, 1 << 15);
    const shift = needInt(k, 'shift', a.shift, 0, 31);
    const relu = a.relu ?? false;
    if (typeof relu !== 'boolean') throw argError(k, `relu must be a boolean, got ${typeof relu}`);
    // The worst case of Σ|x·w| must stay inside int32 with room for the bias.
    if (9 * inChannels * 255 * 128 > 2 ** 30) {
      throw argError(k, `inChannels ${inChannels} could overflow the int32 accumulator`);
    }
    const pixels = height * width;
    const inBytes = pixels * inChannels;
    const wBytes = outChannels * 9 * inChannels;
    const outBytes = pixels * outChannels;
    return {
      reads: [
        { phyAddr: input, size: inBytes, role: 'input' },
        { phyAddr: weights, size: wBytes, role: 'weights' },
        { phyAddr: bias, size: outChannels * 4, role: 'bias' },
      ],
      writes: [{ phyAddr: output, size: outBytes, role: 'output' }],
      params: [
        Number(input),
        Number(weights),
        Number(bias),
        Number(output),
        height,
        width,
        inChannels,
        outChannels,
        zp,
        multiplier,
        shift,
        relu ? 1 : 0,
      ],
      bytes: inBytes + wBytes + outChannels * 4 + outBytes,
    };
  },
  run(resolve, p) {
    // Integers from here on (the parameters arrive as doubles), so the loops stay on
    // small-integer arithmetic.
    const H = p[4]! | 0;
    const W = p[5]! | 0;
    const C = p[6]! | 0;
    const K = p[7]! | 0;
    const zp = p[8]! | 0;
    const multiplier = p[9]! | 0;
    const shift = p[10]! | 0;
    const relu = p[11] === 1;
    // requantize() of the reference, with its constants computed once.
    const half = shift === 0 ? 0 : 2 ** (shift - 1);
    const div = 2 ** shift;
    const low = relu ? 0 : -128;
    const inp = resolve(p[0]!, H * W * C);
    const wgt = resolve(p[1]!, K * 9 * C);
    const bia = resolve(p[2]!, K * 4);
    const out = resolve(p[3]!, H * W * K);
    const input = inp.plane;
    const inOffset = inp.offset | 0;
    const w8 = new Int8Array(wgt.plane.buffer, wgt.plane.byteOffset + wgt.offset, K * 9 * C);
    // Transpose the weights to [tap][c][k] so the innermost loop runs over output channels.
    const wt = new Int32Array(9 * C * K);
    for (let k = 0; k < K; k++) {
      for (let t = 0; t < 9; t++) {
        for (let c = 0; c < C; c++) wt[(t * C + c) * K + k] = w8[(k * 9 + t) * C + c]!;
      }
    }
    const bias = new Int32Array(K);
    for (let k = 0; k < K; k++) bias[k] = bia.plane.readInt32LE(bia.offset + 4 * k);
    const acc = new Int32Array(K);
    const o8 = new Int8Array(out.plane.buffer, out.plane.byteOffset + out.offset, H * W * K);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        acc.set(bias);
        for (let dy = -1; dy <= 1; dy++) {
          const iy = y + dy;
          if (iy < 0 || iy >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const ix = x + dx;
            if (ix < 0 || ix >= W) continue;
            const tap = (dy + 1) * 3 + (dx + 1);
            const px = inOffset + (iy * W + ix) * C;
            for (let c = 0; c < C; c++) {
              const v = input[px + c]! - zp;
              if (v === 0) continue;
              const row = (tap * C + c) * K;
              for (let k = 0; k < K; k++) acc[k] = acc[k]! + v * wt[row + k]!;
            }
          }
        }
        const base = (y * W + x) * K;
        for (let k = 0; k < K; k++) {
          const q = Math.floor((acc[k]! * multiplier + half) / div);
          o8[base + k] = q < low ? low : q > 127 ? 127 : q;
        }
      }
    }
  },
};
