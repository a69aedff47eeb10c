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

export const referenceKernels = {
  copy: copyReference,
  fill: fillReference,
  nv12ToRgb: nv12ToRgbReference,
  conv3x3Int8: conv3x3Int8Reference,
  /** hbDNNResize's bilinear resize of an inclusive ROI. */
  resize: resizeReference,
} as const;
