/**
 * The CPU reference of NV12 → RGB with bilinear resize: one pixel at a time, straight from
 * the fixed-point definition below. The device kernel must match it bit for bit.
 *
 * Definition (Q10 fixed point throughout, as image hardware does it):
 * - Sampling uses pixel centres: for output column x of `dstWidth` over a plane of width
 *   `w`, the source position is fx = floor((2x + 1) · w · 1024 / (2 · dstWidth)) − 512,
 *   clamped to [0, (w − 1) · 1024]; x0 = fx >> 10, weight wx = fx & 1023,
 *   x1 = min(x0 + 1, w − 1). Rows likewise.
 * - A sample is ((p00·(1024 − wx) + p01·wx)·(1024 − wy) + (p10·(1024 − wx) + p11·wx)·wy
 *   + 2^19) >> 20.
 * - Y is sampled on the full plane; U and V on the half-size interleaved UV plane.
 * - BT.601 limited range, Q10: c = Y − 16, d = U − 128, e = V − 128;
 *   R = (1192c + 1634e + 512) >> 10, G = (1192c − 401d − 833e + 512) >> 10,
 *   B = (1192c + 2066d + 512) >> 10, each clamped to 0 … 255.
 */

/** The sizes of an NV12 → RGB conversion with resize. */
export interface Nv12ToRgbShape {
  /** Width of the NV12 frame in pixels (even). */
  srcWidth: number;
  /** Height of the NV12 frame in pixels (even). */
  srcHeight: number;
  /** Width of the RGB output in pixels. */
  dstWidth: number;
  /** Height of the RGB output in pixels. */
  dstHeight: number;
  /** Byte order of each output pixel. Default `'rgb'`. */
  order?: 'rgb' | 'bgr';
}

/** Source position of output index `i` (Q10), for a plane of `size` scaled to `out`. */
export function sourcePosition(i: number, size: number, out: number): number {
  const f = Math.floor(((2 * i + 1) * size * 1024) / (2 * out)) - 512;
  return Math.min(Math.max(f, 0), (size - 1) * 1024);
}

export function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** NV12 bytes (Y plane then interleaved UV) → RGB (or BGR) bytes, HWC. */
export function nv12ToRgbReference(nv12: Uint8Array, shape: Nv12ToRgbShape): Uint8Array {
  const { srcWidth: w, srcHeight: h, dstWidth: ow, dstHeight: oh } = shape;
  const cw = w / 2;
  const ch = h / 2;
  const uvBase = w * h;
  const out = new Uint8Array(ow * oh * 3);
  const sample = (
    get: (x: number, y: number) => number,
    fx: number,
    fy: number,
    pw: number,
    ph: number,
  ) => {
    const x0 = fx >> 10;
    const y0 = fy >> 10;
    const wx = fx & 1023;
    const wy = fy & 1023;
    const x1 = Math.min(x0 + 1, pw - 1);
    const y1 = Math.min(y0 + 1, ph - 1);
    const top = get(x0, y0) * (1024 - wx) + get(x1, y0) * wx;
    const bottom = get(x0, y1) * (1024 - wx) + get(x1, y1) * wx;
    return (top * (1024 - wy) + bottom * wy + (1 << 19)) >> 20;
  };
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const Y = sample(
        (px, py) => nv12[py * w + px]!,
        sourcePosition(x, w, ow),
        sourcePosition(y, h, oh),
        w,
        h,
      );
      const cfx = sourcePosition(x, cw, ow);
      const cfy = sourcePosition(y, ch, oh);
      const U = sample((px, py) => nv12[uvBase + py * w + 2 * px]!, cfx, cfy, cw, ch);
      const V = sample((px, py) => nv12[uvBase + py * w + 2 * px + 1]!, cfx, cfy, cw, ch);
      const c = Y - 16;
      const d = U - 128;
      const e = V - 128;
      const r = clampByte((1192 * c + 1634 * e + 512) >> 10);
      const g = clampByte((1192 * c - 401 * d - 833 * e + 512) >> 10);
      const b = clampByte((1192 * c + 2066 * d + 512) >> 10);
      const o = (y * ow + x) * 3;
      if (shape.order === 'bgr') {
        out[o] = b;
        out[o + 2] = r;
      } else {
        out[o] = r;
        out[o + 2] = b;
      }
      out[o + 1] = g;
    }
  }
  return out;
}
