/**
 * The CPU references of the BPU kernels, for programs that check device output (the demo
 * does) and for tests.
 */

import { conv3x3Int8Reference } from './conv3x3-int8.reference.js';
import { copyReference } from './copy.js';
import { fillReference } from './fill.js';
import { nv12ToRgbReference } from './nv12-to-rgb.reference.js';
import { resizeReference } from './resize.reference.js';

export type { Conv3x3Shape } from './conv3x3-int8.reference.js';
export type { Nv12ToRgbShape } from './nv12-to-rgb.reference.js';
export type { ResizeFormat, ResizeImage, ResizeRoi } from './resize.reference.js';

/**
 * The CPU reference of each BPU kernel: plain code that defines what the device computes,
 * bit for bit. A program checks device output against it.
 *
 * @example
 * ```ts
 * const rgb = referenceKernels.nv12ToRgb(frame, {
 *   srcWidth: 640, srcHeight: 480, dstWidth: 224, dstHeight: 224,
 * });
 * assert.deepEqual(output.invalidate().read(), rgb);
 * ```
 */
export const referenceKernels = {
  /** What `copy` writes: a copy of `src`. */
  copy: copyReference,
  /** What `fill` writes: `size` bytes of `value`. */
  fill: fillReference,
  /** What `nv12ToRgb` writes for an NV12 frame (Y plane, then interleaved UV). */
  nv12ToRgb: nv12ToRgbReference,
  /** What `conv3x3Int8` writes for an input, weights and bias. */
  conv3x3Int8: conv3x3Int8Reference,
  /** hbDNNResize's bilinear resize of an inclusive ROI. */
  resize: resizeReference,
} as const;
