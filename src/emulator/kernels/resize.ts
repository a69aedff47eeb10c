/**
 * hbDNNResize on the BPU: bilinear resize of an inclusive region of interest of a Y, NV12
 * or 3-channel image. The arithmetic is defined, bit for bit, in resize.reference.ts; this
 * device version tabulates the column positions and weights once per plane.
 *
 * Only hbsys submits it (the emulator's hbDNNResize checks the tensors first), so its plan
 * takes numbers that are already checked.
 */

import type { Kernel } from './kernel.js';
import { imageBytes, type ResizeFormat, type ResizeRoi, roiPosition } from './resize.reference.js';

const FORMATS: readonly ResizeFormat[] = ['y', 'nv12', 'packed3', 'planar3'];

/** A checked resize job: addresses, sizes, strides, the inclusive ROI. */
export interface ResizeArgs {
  format: ResizeFormat;
  /** Y (or the whole image); `srcUV` is the interleaved UV plane of NV12. */
  src: bigint;
  srcUV: bigint;
  srcWidth: number;
  srcHeight: number;
  srcStride: number;
  roi: ResizeRoi;
  dst: bigint;
  dstUV: bigint;
  dstWidth: number;
  dstHeight: number;
  dstStride: number;
}

export const resizeKernel: Kernel<ResizeArgs> = {
  name: 'resize',
  plan(a) {
    const src = { width: a.srcWidth, height: a.srcHeight, stride: a.srcStride };
    const dst = { width: a.dstWidth, height: a.dstHeight, stride: a.dstStride };
    const nv12 = a.format === 'nv12';
    const inY = nv12 ? a.srcStride * a.srcHeight : imageBytes(a.format, src);
    const outY = nv12 ? a.dstStride * a.dstHeight : imageBytes(a.format, dst);
    const reads = [{ phyAddr: a.src, size: inY, role: 'input' }];
    const writes = [{ phyAddr: a.dst, size: outY, role: 'output' }];
    if (nv12) {
      reads.push({ phyAddr: a.srcUV, size: inY / 2, role: 'input (UV plane)' });
      writes.push({ phyAddr: a.dstUV, size: outY / 2, role: 'output (UV plane)' });
    }
    const r = a.roi;
    return {
      reads,
      writes,
      params: [
        FORMATS.indexOf(a.format),
        Number(a.src),
        Number(a.srcUV),
        a.srcWidth,
        a.srcHeight,
        a.srcStride,
        r.left,
        r.top,
        r.right,
        r.bottom,
        Number(a.dst),
        Number(a.dstUV),
        a.dstWidth,
        a.dstHeight,
        a.dstStride,
      ],
      bytes: [...reads, ...writes].reduce((n, x) => n + x.size, 0),
    };
  },
  run(resolve, p) {
    const format = FORMATS[p[0]!]!;
    const [sw, sh, ss] = [p[3]!, p[4]!, p[5]!];
    const roi = { left: p[6]!, top: p[7]!, right: p[8]!, bottom: p[9]! };
    const [dw, dh, ds] = [p[12]!, p[13]!, p[14]!];
    const nv12 = format === 'nv12';
    const inBytes = nv12 ? ss * sh : imageBytes(format, { width: sw, height: sh, stride: ss });
    const outBytes = nv12 ? ds * dh : imageBytes(format, { width: dw, height: dh, stride: ds });
    const s = resolve(p[1]!, inBytes);
    const d = resolve(p[10]!, outBytes);
    switch (format) {
      case 'y':
        resizePlane(s.plane, s.offset, ss, 1, roi, d.plane, d.offset, ds, dw, dh);
        break;
      case 'nv12': {
        resizePlane(s.plane, s.offset, ss, 1, roi, d.plane, d.offset, ds, dw, dh);
        const suv = resolve(p[2]!, inBytes / 2);
        const duv = resolve(p[11]!, outBytes / 2);
        const croi = {
          left: roi.left / 2,
          top: roi.top / 2,
          right: (roi.right + 1) / 2 - 1,
          bottom: (roi.bottom + 1) / 2 - 1,
        };
        for (const c of [0, 1]) {
          resizePlane(
            suv.plane,
            suv.offset + c,
            ss,
            2,
            croi,
            duv.plane,
            duv.offset + c,
            ds,
            dw / 2,
            dh / 2,
          );
        }
        break;
      }
      case 'packed3':
        for (const c of [0, 1, 2]) {
          resizePlane(s.plane, s.offset + c, ss, 3, roi, d.plane, d.offset + c, ds, dw, dh);
        }
        break;
      case 'planar3':
        for (const c of [0, 1, 2]) {
          const so = s.offset + c * ss * sh;
          const dOff = d.offset + c * ds * dh;
          resizePlane(s.plane, so, ss, 1, roi, d.plane, dOff, ds, dw, dh);
        }
        break;
    }
  },
};

/** One channel: samples `step` bytes apart in rows `stride` bytes apart. */
function resizePlane(
  src: Uint8Array,
  srcOffset: number,
  srcStride: number,
  step: number,
  roi: ResizeRoi,
  dst: Uint8Array,
  dstOffset: number,
  dstStride: number,
  ow: number,
  oh: number,
): void {
  const w = roi.right - roi.left + 1;
  const h = roi.bottom - roi.top + 1;
  const x0s = new Int32Array(ow);
  const x1s = new Int32Array(ow);
  const wxs = new Int32Array(ow);
  for (let x = 0; x < ow; x++) {
    const fx = roiPosition(x, roi.left, w, ow);
    x0s[x] = (fx >> 10) * step;
    x1s[x] = Math.min((fx >> 10) + 1, roi.right) * step;
    wxs[x] = fx & 1023;
  }
  for (let y = 0; y < oh; y++) {
    const fy = roiPosition(y, roi.top, h, oh);
    const row0 = srcOffset + (fy >> 10) * srcStride;
    const row1 = srcOffset + Math.min((fy >> 10) + 1, roi.bottom) * srcStride;
    const wy = fy & 1023;
    let o = dstOffset + y * dstStride;
    for (let x = 0; x < ow; x++, o += step) {
      const a = x0s[x]!;
      const b = x1s[x]!;
      const wx = wxs[x]!;
      const top = src[row0 + a]! * (1024 - wx) + src[row0 + b]! * wx;
      const bottom = src[row1 + a]! * (1024 - wx) + src[row1 + b]! * wx;
      dst[o] = (top * (1024 - wy) + bottom * wy + 524288) >> 20;
    }
  }
}
