/**
 * hbDNNResize's checks, as libdnn 1.18 documents them, and the BPU job that follows:
 * input and output of the same image type (Y, NV12, NV12_SEPARATE, RGB, BGR, YUV444),
 * NV12 sizes even, input width 1 … 4080 with a row stride of 16 … 4080 bytes in steps of
 * 16 (Y and NV12), output at most 4080 x 4080, a scale of 1/185 up to (not including) 256
 * on each axis, and an inclusive ROI inside the image (null: all of it; even left and top
 * and even width and height for NV12).
 */

import type { TensorSnapshot } from '../../dnn/backend.js';
import { dnnFail, HB_DNN_INVALID_ARGUMENT } from '../../dnn/status.js';
import {
  HB_DNN_IMG_TYPE_NV12,
  HB_DNN_IMG_TYPE_NV12_SEPARATE,
  HB_DNN_IMG_TYPE_Y,
  type hbDNNRoi,
} from '../../dnn/types.js';
import type { JobPlan } from '../kernels/kernel.js';
import { RESIZE_KERNEL_INDEX } from '../kernels/registry.js';
import { resizeKernel } from '../kernels/resize.js';
import type { Machine } from '../machine.js';
import { checkImageTensor, type TensorMemory, typeName } from './tensors.js';

export interface ResizePlan {
  readonly kernelIndex: number;
  readonly job: JobPlan;
  readonly reads: TensorMemory[];
  readonly writes: TensorMemory[];
}

const MAX_SIDE = 4080;

export function planResize(
  machine: Machine,
  output: TensorSnapshot,
  input: TensorSnapshot,
  roi: Readonly<hbDNNRoi> | null,
): ResizePlan | number {
  const fn = 'hbDNNResize';
  const bad = (why: string) => dnnFail(HB_DNN_INVALID_ARGUMENT, fn, why);
  const src = checkImageTensor(machine, fn, 'input', input);
  if (typeof src === 'number') return src;
  const dst = checkImageTensor(machine, fn, 'output', output);
  if (typeof dst === 'number') return dst;
  if (src.tensorType !== dst.tensorType) {
    return bad(
      `input and output must have the same tensorType, got ${typeName(src.tensorType)} and ` +
        `${typeName(dst.tensorType)}`,
    );
  }
  const type = src.tensorType;
  const nv12 = type === HB_DNN_IMG_TYPE_NV12 || type === HB_DNN_IMG_TYPE_NV12_SEPARATE;
  const strided = nv12 || type === HB_DNN_IMG_TYPE_Y;
  if (src.width > MAX_SIDE || dst.width > MAX_SIDE || dst.height > MAX_SIDE) {
    return bad(`widths and the output height must be at most ${MAX_SIDE}`);
  }
  if (strided && (src.stride < 16 || src.stride > MAX_SIDE || src.stride % 16 !== 0)) {
    return bad(
      `the input's row stride (alignedShape W) is ${src.stride}: it must be a multiple of 16 in ` +
        `16 … ${MAX_SIDE}`,
    );
  }
  if (nv12 && [src.width, src.height, dst.width, dst.height].some((n) => n % 2 !== 0)) {
    return bad('NV12 images need even widths and heights');
  }
  const r = roi ?? { left: 0, top: 0, right: src.width - 1, bottom: src.height - 1 };
  if (
    !(r.left >= 0 && r.top >= 0 && r.left <= r.right && r.top <= r.bottom) ||
    r.right >= src.width ||
    r.bottom >= src.height
  ) {
    return bad(
      `the ROI [${r.left}, ${r.top}] … [${r.right}, ${r.bottom}] (inclusive) must lie inside the ` +
        `${src.width}x${src.height} input, left <= right and top <= bottom`,
    );
  }
  const rw = r.right - r.left + 1;
  const rh = r.bottom - r.top + 1;
  if (nv12 && (r.left % 2 !== 0 || r.top % 2 !== 0 || rw % 2 !== 0 || rh % 2 !== 0)) {
    return bad(
      'for NV12 the ROI needs even left and top and an even width and height (right and bottom odd)',
    );
  }
  for (const [o, i, axis] of [
    [dst.width, rw, 'width'],
    [dst.height, rh, 'height'],
  ] as const) {
    if (o * 185 < i || o >= 256 * i) {
      return bad(`the ${axis} scale ${o}/${i} is outside [1/185, 256): resize in two steps`);
    }
  }
  const format = nv12
    ? 'nv12'
    : type === HB_DNN_IMG_TYPE_Y
      ? 'y'
      : src.packed
        ? 'packed3'
        : 'planar3';
  const uv = (m: readonly TensorMemory[]) => BigInt(m[1]?.phyAddr ?? 0);
  const job = resizeKernel.plan({
    format,
    src: BigInt(src.memory[0]!.phyAddr),
    srcUV: uv(src.memory),
    srcWidth: src.width,
    srcHeight: src.height,
    srcStride: src.stride,
    roi: { left: r.left, top: r.top, right: r.right, bottom: r.bottom },
    dst: BigInt(dst.memory[0]!.phyAddr),
    dstUV: uv(dst.memory),
    dstWidth: dst.width,
    dstHeight: dst.height,
    dstStride: dst.stride,
  });
  return { kernelIndex: RESIZE_KERNEL_INDEX, job, reads: [...src.memory], writes: [...dst.memory] };
}
