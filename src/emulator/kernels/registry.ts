/**
 * Every BPU kernel, by name. Kernels are listed here rather than registering themselves,
 * so importing a kernel's module changes nothing.
 */

import { type Conv3x3Int8Args, conv3x3Int8Kernel } from './conv3x3-int8.js';
import { type CopyArgs, copyKernel } from './copy.js';
import { type FillArgs, fillKernel } from './fill.js';
import type { Kernel } from './kernel.js';
import { type Nv12ToRgbArgs, nv12ToRgbKernel } from './nv12-to-rgb.js';
import { resizeKernel } from './resize.js';

/** The arguments of each kernel, by name. */
export interface KernelArgs {
  /** DMA copy, as memmove. */
  copy: CopyArgs;
  /** DMA fill with one byte value. */
  fill: FillArgs;
  /** NV12 camera frame → RGB or BGR HWC uint8, with bilinear resize. */
  nv12ToRgb: Nv12ToRgbArgs;
  /** 3x3 int8 convolution, stride 1, padding 1, requantised to int8. */
  conv3x3Int8: Conv3x3Int8Args;
}

/** The name of a BPU kernel: `'copy' | 'fill' | 'nv12ToRgb' | 'conv3x3Int8'`. */
export type KernelName = keyof KernelArgs;

export const kernels: { readonly [K in KernelName]: Kernel<KernelArgs[K]> } = {
  copy: copyKernel,
  fill: fillKernel,
  nv12ToRgb: nv12ToRgbKernel,
  conv3x3Int8: conv3x3Int8Kernel,
};

/** Kernel names in a fixed order: a job names its kernel by index in the shared queue. */
export const kernelNames: readonly KernelName[] = ['copy', 'fill', 'nv12ToRgb', 'conv3x3Int8'];

/**
 * What the worker runs, by the index a job carries: the public kernels in `kernelNames`
 * order, then the ones only hbsys itself submits (hbDNNResize's).
 */
export const deviceKernels: readonly Kernel<unknown>[] = [
  ...kernelNames.map((n) => kernels[n] as Kernel<unknown>),
  resizeKernel as Kernel<unknown>,
];

/** The index of hbDNNResize's kernel in {@link deviceKernels}. */
export const RESIZE_KERNEL_INDEX = kernelNames.length;

export function isKernelName(name: unknown): name is KernelName {
  return typeof name === 'string' && (kernelNames as readonly string[]).includes(name);
}
