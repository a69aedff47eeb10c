/** DMA fill: `size` bytes at `dst` set to `value`. */

import { type Kernel, needAddress, needInt, needObject } from './kernel.js';

/** The arguments of the `fill` kernel. */
export interface FillArgs {
  /** Physical address of the first byte to set. */
  dst: bigint;
  /** The byte value, 0 … 255. */
  value: number;
  /** Bytes to set. */
  size: number;
}

export const fillKernel: Kernel<FillArgs> = {
  name: 'fill',
  plan(args) {
    const a = needObject('fill', args);
    const dst = needAddress('fill', 'dst', a.dst);
    const value = needInt('fill', 'value (a byte)', a.value, 0, 255);
    const size = needInt('fill', 'size', a.size, 1, 0xffff_ffff);
    return {
      reads: [],
      writes: [{ phyAddr: dst, size, role: 'destination' }],
      params: [Number(dst), value, size],
      bytes: size,
    };
  },
  run(resolve, p) {
    const size = p[2]!;
    const d = resolve(p[0]!, size);
    d.plane.fill(p[1]!, d.offset, d.offset + size);
  },
};

/** The CPU reference: what the fill must produce. */
export function fillReference(value: number, size: number): Uint8Array {
  return new Uint8Array(size).fill(value);
}
