/**
 * NV12 → RGB (or BGR) with bilinear resize: the BPU's usual preprocessing of a camera
 * frame. The arithmetic is defined, bit for bit, in nv12-to-rgb.reference.ts; this device
 * version computes the same thing row by row, with the column positions and weights
 * tabulated once per job.
 */

import { argError, type Kernel, needAddress, needInt, needObject } from './kernel.js';
import { clampByte, type Nv12ToRgbShape, sourcePosition } from './nv12-to-rgb.reference.js';

/** The arguments of the `nv12ToRgb` kernel: source and destination by physical address, and the sizes. */
export interface Nv12ToRgbArgs extends Nv12ToRgbShape {
  /** Physical address of the NV12 frame (srcWidth·srcHeight·3/2 bytes). */
  src: bigint;
  /** Physical address of the HWC output (dstWidth·dstHeight·3 bytes). */
  dst: bigint;
}

const MAX_SIDE = 8192;

export const nv12ToRgbKernel: Kernel<Nv12ToRgbArgs> = {
  name: 'nv12ToRgb',
  plan(args) {
    const k = 'nv12ToRgb';
    const a = needObject(k, args);
    const src = needAddress(k, 'src', a.src);
    const dst = needAddress(k, 'dst', a.dst);
    const srcWidth = needInt(k, 'srcWidth', a.srcWidth, 2, MAX_SIDE);
    const srcHeight = needInt(k, 'srcHeight', a.srcHeight, 2, MAX_SIDE);
    const dstWidth = needInt(k, 'dstWidth', a.dstWidth, 1, MAX_SIDE);
    const dstHeight = needInt(k, 'dstHeight', a.dstHeight, 1, MAX_SIDE);
    if (srcWidth % 2 !== 0 || srcHeight % 2 !== 0) {
      throw argError(k, `NV12 needs an even srcWidth and srcHeight, got ${srcWidth}x${srcHeight}`);
    }
    const order = a.order ?? 'rgb';
    if (order !== 'rgb' && order !== 'bgr') {
      throw argError(k, `order must be 'rgb' or 'bgr', got ${String(order)}`);
    }
    const inBytes = (srcWidth * srcHeight * 3) / 2;
    const outBytes = dstWidth * dstHeight * 3;
    return {
      reads: [{ phyAddr: src, size: inBytes, role: 'src (NV12 frame)' }],
      writes: [{ phyAddr: dst, size: outBytes, role: 'dst (RGB tensor)' }],
      params: [
        Number(src),
        srcWidth,
        srcHeight,
        Number(dst),
        dstWidth,
        dstHeight,
        order === 'bgr' ? 1 : 0,
      ],
      bytes: inBytes + outBytes,
    };
  },
  run(resolve, p) {
    const w = p[1]!;
    const h = p[2]!;
    const ow = p[4]!;
    const oh = p[5]!;
    const bgr = p[6] === 1;
    const s = resolve(p[0]!, (w * h * 3) / 2);
    const d = resolve(p[3]!, ow * oh * 3);
    const src = s.plane;
    const dst = d.plane;
    const yBase = s.offset;
    const uvBase = s.offset + w * h;
    const cw = w / 2;
    const ch = h / 2;
    // Column tables: for Y and for chroma, left index, right index, weight.
    const yx0 = new Int32Array(ow);
    const yx1 = new Int32Array(ow);
    const ywx = new Int32Array(ow);
    const cx0 = new Int32Array(ow);
    const cx1 = new Int32Array(ow);
    const cwx = new Int32Array(ow);
    for (let x = 0; x < ow; x++) {
      const fx = sourcePosition(x, w, ow);
      yx0[x] = fx >> 10;
      yx1[x] = Math.min((fx >> 10) + 1, w - 1);
      ywx[x] = fx & 1023;
      const cfx = sourcePosition(x, cw, ow);
      cx0[x] = 2 * (cfx >> 10);
      cx1[x] = 2 * Math.min((cfx >> 10) + 1, cw - 1);
      cwx[x] = cfx & 1023;
    }
    const rOff = bgr ? 2 : 0;
    const bOff = bgr ? 0 : 2;
    for (let y = 0; y < oh; y++) {
      const fy = sourcePosition(y, h, oh);
      const yRow0 = yBase + (fy >> 10) * w;
      const yRow1 = yBase + Math.min((fy >> 10) + 1, h - 1) * w;
      const wy = fy & 1023;
      const cfy = sourcePosition(y, ch, oh);
      const cRow0 = uvBase + (cfy >> 10) * w;
      const cRow1 = uvBase + Math.min((cfy >> 10) + 1, ch - 1) * w;
      const cwy = cfy & 1023;
      let o = d.offset + y * ow * 3;
      for (let x = 0; x < ow; x++, o += 3) {
        const a0 = yx0[x]!;
        const a1 = yx1[x]!;
        const wx = ywx[x]!;
        const top = src[yRow0 + a0]! * (1024 - wx) + src[yRow0 + a1]! * wx;
        const bottom = src[yRow1 + a0]! * (1024 - wx) + src[yRow1 + a1]! * wx;
        const Y = (top * (1024 - wy) + bottom * wy + 524288) >> 20;
        const c0 = cx0[x]!;
        const c1 = cx1[x]!;
        const cx = cwx[x]!;
        const uTop = src[cRow0 + c0]! * (1024 - cx) + src[cRow0 + c1]! * cx;
        const uBot = src[cRow1 + c0]! * (1024 - cx) + src[cRow1 + c1]! * cx;
        const U = (uTop * (1024 - cwy) + uBot * cwy + 524288) >> 20;
        const vTop = src[cRow0 + c0 + 1]! * (1024 - cx) + src[cRow0 + c1 + 1]! * cx;
        const vBot = src[cRow1 + c0 + 1]! * (1024 - cx) + src[cRow1 + c1 + 1]! * cx;
        const V = (vTop * (1024 - cwy) + vBot * cwy + 524288) >> 20;
        const c = 1192 * (Y - 16);
        const du = U - 128;
        const ev = V - 128;
        dst[o + rOff] = clampByte((c + 1634 * ev + 512) >> 10);
        dst[o + 1] = clampByte((c - 401 * du - 833 * ev + 512) >> 10);
        dst[o + bOff] = clampByte((c + 2066 * du + 512) >> 10);
      }
    }
  },
};
