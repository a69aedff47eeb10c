/**
 * The `hbSysMem` descriptor and the cache-maintenance flags, as in `dnn/hb_sys.h`.
 *
 * In C the struct is `{ uint64_t phyAddr; void *virAddr; uint32_t memSize; }`. In
 * TypeScript `virAddr` is the CPU mapping as bytes: what C does with
 * `memcpy(mem.virAddr, …)` TypeScript does with `mem.virAddr.set(…)`.
 */

/** Clean, then invalidate the CPU cache lines: before the CPU reads what the BPU wrote. */
export const HB_SYS_MEM_CACHE_INVALIDATE = 1;
/** Write dirty CPU cache lines back to memory: after the CPU writes, before the BPU reads. */
export const HB_SYS_MEM_CACHE_CLEAN = 2;

/** A cache-maintenance flag of `hbSysFlushMem`. */
export type HbSysFlushFlag = typeof HB_SYS_MEM_CACHE_INVALIDATE | typeof HB_SYS_MEM_CACHE_CLEAN;

/**
 * A block of BPU memory: its physical address (what the BPU uses), its CPU mapping and its
 * size in bytes. The functions fill it as an out-parameter; any plain object will do.
 */
export interface hbSysMem {
  /** The physical address: what the BPU (and the kernels) use. */
  phyAddr: bigint;
  /**
   * The CPU mapping, `memSize` bytes (null once freed). Typed over `ArrayBufferLike`: a
   * SharedArrayBuffer on the emulator, the vendor's mapping on the board.
   */
  virAddr: Uint8Array | null;
  /** Size in bytes. A caller may lower it to the valid byte count before a flush or copy. */
  memSize: number;
}

/** Bytes the C-style functions accept from the host: any view or buffer. */
export type HostBytes = ArrayBufferView | ArrayBufferLike;

/** The largest size a uint32 `memSize` can hold. */
export const MAX_MEM_SIZE = 0xffff_ffff;

/**
 * Where a sanitized hbSysMem keeps its mapping. With the sanitizer on, `virAddr` is an
 * accessor so that each read of it by the program can be checked; the library itself reads
 * the mapping here, so that its own reads are not taken for the program's. @internal
 */
export const RAW_VIR_ADDR: unique symbol = Symbol('hbsys.rawVirAddr');

/** The mapping of `mem`, read without counting as a CPU read. @internal */
export function rawVirAddr(mem: hbSysMem): Uint8Array | null | undefined {
  const slot = (mem as { [RAW_VIR_ADDR]?: Uint8Array | null })[RAW_VIR_ADDR];
  return slot !== undefined || Object.hasOwn(mem, RAW_VIR_ADDR) ? slot : mem.virAddr;
}
