/** DMA copy: `size` bytes from `src` to `dst`, as memmove (overlap allowed). */

import { type Kernel, needAddress, needInt, needObject } from './kernel.js';

/** The arguments of the `copy` kernel. */
export interface CopyArgs {
  /** Physical address to copy to. */
  dst: bigint;
  /** Physical address to copy from. */
  src: bigint;
  /** Bytes to copy. */
  size: number;
}

export const copyKernel: Kernel<CopyArgs> = {
  name: 'copy',
  plan(args) {
    const a = needObject('copy', args);
    const dst = needAddress('copy', 'dst', a.dst);
    const src = needAddress('copy', 'src', a.src);
    const size = needInt('copy', 'size', a.size, 1, 0xffff_ffff);
    return {
      reads: [{ phyAddr: src, size, role: 'source' }],
      writes: [{ phyAddr: dst, size, role: 'destination' }],
      params: [Number(dst), Number(src), size],
      bytes: size,
    };
  },
  run(resolve, p) {
    const size = p[2]!;
    const d = resolve(p[0]!, size);
    const s = resolve(p[1]!, size);
    s.plane.copy(d.plane, d.offset, s.offset, s.offset + size);
  },
};

/** The CPU reference: what the copy must produce. */
export function copyReference(src: Uint8Array): Uint8Array {
  return src.slice();
}
