/**
 * The CPU reference of hbDNNResize: bilinear resize of a region of interest of an image,
 * one sample at a time, straight from the definition below. The device kernel (resize.ts)
 * must match it bit for bit.
 *
 * Definition (Q10 fixed point, the same sampling as nv12ToRgb):
 * - The ROI is inclusive: columns left … right, rows top … bottom, as hbDNNRoi says.
 * - For output column x of `outWidth` over a ROI of width w starting at `left`, the source
 *   position is left·1024 + clamp(floor((2x + 1)·w·1024 / (2·outWidth)) − 512, 0, (w − 1)·1024);
 *   x0 = pos >> 10, weight wx = pos & 1023, x1 = min(x0 + 1, right). Rows likewise.
 * - A sample is ((p00·(1024 − wx) + p01·wx)·(1024 − wy) + (p10·(1024 − wx) + p11·wx)·wy
 *   + 2^19) >> 20, per channel.
 * - NV12: Y is resized over the ROI; U and V over the ROI halved (left/2 … (right+1)/2 − 1)
 *   into an output of half the width and height, interleaved as NV12 keeps them.
 * - 3-channel images (RGB, BGR, YUV444) resize each channel alike, packed (NHWC) or planar
 *   (NCHW).
 */

import { sourcePosition } from './nv12-to-rgb.reference.js';

/** How an image sits in memory. */
export type ResizeFormat = 'y' | 'nv12' | 'packed3' | 'planar3';

/** An image: its bytes (Y then UV for NV12), size and row stride in bytes. */
export interface ResizeImage {
  /** Pixels per row. */
  width: number;
  /** Rows (of the Y plane, for NV12). */
  height: number;
  /** Bytes from one row to the next (of one plane, for NV12 and planar images). */
  stride: number;
}

/** The inclusive region of interest. */
export interface ResizeRoi {
  /** First column. */
  left: number;
  /** First row. */
  top: number;
  /** Last column (inclusive). */
  right: number;
  /** Last row (inclusive). */
  bottom: number;
}

/** The source position (Q10) of output index `i` over `[from, from + size)`. */
export function roiPosition(i: number, from: number, size: number, out: number): number {
  return from * 1024 + sourcePosition(i, size, out);
}

/** Bytes an image of this format, size and stride occupies. */
export function imageBytes(format: ResizeFormat, img: ResizeImage): number {
  switch (format) {
    case 'y':
    case 'packed3':
      return img.stride * img.height;
    case 'nv12':
      return (img.stride * img.height * 3) / 2;
    case 'planar3':
      return img.stride * img.height * 3;
  }
}

/** Resizes `roi` of `src` into an image of `out`'s size; returns `out`'s bytes. */
export function resizeReference(
  format: ResizeFormat,
  src: Uint8Array,
  image: ResizeImage,
  roi: ResizeRoi,
  out: ResizeImage,
): Uint8Array {
  const dst = new Uint8Array(imageBytes(format, out));
  const plane = (
    get: (x: number, y: number) => number,
    set: (x: number, y: number, v: number) => void,
    r: ResizeRoi,
    ow: number,
    oh: number,
  ) => {
    const w = r.right - r.left + 1;
    const h = r.bottom - r.top + 1;
    for (let y = 0; y < oh; y++) {
      const fy = roiPosition(y, r.top, h, oh);
      const y0 = fy >> 10;
      const y1 = Math.min(y0 + 1, r.bottom);
      const wy = fy & 1023;
      for (let x = 0; x < ow; x++) {
        const fx = roiPosition(x, r.left, w, ow);
        const x0 = fx >> 10;
        const x1 = Math.min(x0 + 1, r.right);
        const wx = fx & 1023;
        const top = get(x0, y0) * (1024 - wx) + get(x1, y0) * wx;
        const bottom = get(x0, y1) * (1024 - wx) + get(x1, y1) * wx;
        set(x, y, (top * (1024 - wy) + bottom * wy + (1 << 19)) >> 20);
      }
    }
  };
  const s = image.stride;
  const d = out.stride;
  switch (format) {
    case 'y':
      plane(
        (x, y) => src[y * s + x]!,
        (x, y, v) => (dst[y * d + x] = v),
        roi,
        out.width,
        out.height,
      );
      break;
    case 'nv12': {
      plane(
        (x, y) => src[y * s + x]!,
        (x, y, v) => (dst[y * d + x] = v),
        roi,
        out.width,
        out.height,
      );
      const uv = s * image.height;
      const duv = d * out.height;
      const croi = {
        left: roi.left / 2,
        top: roi.top / 2,
        right: (roi.right + 1) / 2 - 1,
        bottom: (roi.bottom + 1) / 2 - 1,
      };
      for (const c of [0, 1]) {
        plane(
          (x, y) => src[uv + y * s + 2 * x + c]!,
          (x, y, v) => (dst[duv + y * d + 2 * x + c] = v),
          croi,
          out.width / 2,
          out.height / 2,
        );
      }
      break;
    }
    case 'packed3':
      for (const c of [0, 1, 2]) {
        plane(
          (x, y) => src[y * s + 3 * x + c]!,
          (x, y, v) => (dst[y * d + 3 * x + c] = v),
          roi,
          out.width,
          out.height,
        );
      }
      break;
    case 'planar3':
      for (const c of [0, 1, 2]) {
        const sp = c * s * image.height;
        const dp = c * d * out.height;
        plane(
          (x, y) => src[sp + y * s + x]!,
          (x, y, v) => (dst[dp + y * d + x] = v),
          roi,
          out.width,
          out.height,
        );
      }
      break;
  }
  return dst;
}
