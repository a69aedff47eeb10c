/**
 * The emulated machine's configuration: defaults, environment, and validation with
 * messages that say what to change.
 */

import { HB_SYS_INVALID_ARGUMENT, HbSysError } from '../status.js';

/** How cached mappings behave. */
export type CacheModel = 'strict' | 'coherent';
/** What the sanitizer does with a finding. */
export type SanitizeMode = 'off' | 'report' | 'throw';

/** Options of `emulator.reset`. */
export interface EmulatorOptions {
  /**
   * Bytes of ION heap. Default: `HB_DNN_SIM_BPU_MEM_SIZE` (MiB, as for the vendor's x86
   * simulator), else 672 MiB. A multiple of `pageSize`.
   */
  heapSize?: number;
  /** Allocation granule in bytes: a power of two from 64. Default 4096. */
  pageSize?: number;
  /** Live allocations a process may hold (ION descriptors). Default 1024. */
  maxAllocations?: number;
  /** `strict` (default) models the CPU cache; `coherent` makes cached act as uncached. */
  cacheModel?: CacheModel;
  /** Sanitizer mode. Default: `HBSYS_SANITIZE`, else `off`. */
  sanitize?: SanitizeMode;
  /** Record the stack of each allocation and free. Default: `HBSYS_STACKS=1`, else false. */
  stacks?: boolean;
  /** Bytes of VIO region for camera and codec buffers. Default 256 MiB. */
  vioSize?: number;
}

export type ResolvedOptions = Required<EmulatorOptions>;

const MIB = 1024 * 1024;
const DEFAULT_HEAP_MIB = 672;
/** The address space modelled is 32-bit wide, as on the X3. */
const MAX_REGION = 2 ** 31;

function bad(message: string): never {
  throw new HbSysError(HB_SYS_INVALID_ARGUMENT, message);
}

/** The configuration for `options`, with defaults and the environment filled in. */
export function resolveOptions(
  options: EmulatorOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    bad(`emulator.reset: options must be an object, got ${String(options)}`);
  }
  const pageSize = options.pageSize ?? 4096;
  if (!Number.isInteger(pageSize) || pageSize < 64 || pageSize > 1 << 24 || !isPow2(pageSize)) {
    bad(`emulator.reset: pageSize must be a power of two from 64 to 16 MiB, got ${pageSize}`);
  }
  let heapSize = options.heapSize;
  if (heapSize === undefined) {
    const fromEnv = env.HB_DNN_SIM_BPU_MEM_SIZE;
    if (fromEnv !== undefined && fromEnv !== '') {
      const mib = Number(fromEnv);
      if (!Number.isInteger(mib) || mib < 1) {
        bad(`HB_DNN_SIM_BPU_MEM_SIZE must be a whole number of MiB, got '${fromEnv}'`);
      }
      heapSize = mib * MIB;
    } else {
      heapSize = DEFAULT_HEAP_MIB * MIB;
    }
  }
  checkRegionSize('heapSize', heapSize, pageSize);
  const vioSize = options.vioSize ?? 256 * MIB;
  checkRegionSize('vioSize', vioSize, pageSize);
  const maxAllocations = options.maxAllocations ?? 1024;
  if (!Number.isInteger(maxAllocations) || maxAllocations < 1) {
    bad(`emulator.reset: maxAllocations must be a positive integer, got ${maxAllocations}`);
  }
  const cacheModel = options.cacheModel ?? 'strict';
  if (cacheModel !== 'strict' && cacheModel !== 'coherent') {
    bad(`emulator.reset: cacheModel must be 'strict' or 'coherent', got ${String(cacheModel)}`);
  }
  const sanitize = options.sanitize ?? sanitizeFromEnv(env);
  if (sanitize !== 'off' && sanitize !== 'report' && sanitize !== 'throw') {
    bad(`emulator.reset: sanitize must be 'off', 'report' or 'throw', got ${String(sanitize)}`);
  }
  const stacks = options.stacks ?? env.HBSYS_STACKS === '1';
  if (typeof stacks !== 'boolean') bad('emulator.reset: stacks must be a boolean');
  return { heapSize, pageSize, maxAllocations, cacheModel, sanitize, stacks, vioSize };
}

function sanitizeFromEnv(env: NodeJS.ProcessEnv): SanitizeMode {
  const v = env.HBSYS_SANITIZE;
  if (v === undefined || v === '') return 'off';
  if (v === 'off' || v === 'report' || v === 'throw') return v;
  bad(`HBSYS_SANITIZE must be 'off', 'report' or 'throw', got '${v}'`);
}

function checkRegionSize(name: string, size: number, pageSize: number): void {
  if (!Number.isInteger(size) || size < pageSize || size > MAX_REGION || size % pageSize !== 0) {
    bad(
      `emulator.reset: ${name} must be a multiple of pageSize (${pageSize}) from ${pageSize} ` +
        `to 2 GiB, got ${size}`,
    );
  }
}

function isPow2(n: number): boolean {
  return (n & (n - 1)) === 0;
}
