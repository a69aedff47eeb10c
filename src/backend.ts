/**
 * The backend interface and the choice of backend.
 *
 * The eight functions validate what they can without knowing any machine (types, sizes,
 * flags), then hand normalised arguments to the current backend, which owns the memory
 * and answers with a status code. A backend is chosen once, on first use, from
 * `HBSYS_BACKEND` (default `emulator`), or explicitly with {@link useBackend}.
 */

import type { DnnBackend } from './dnn/backend.js';
import { emulatorBackend } from './emulator/index.js';
import type { HbSysFlushFlag, hbSysMem } from './mem.js';
import { nativeBackend } from './native/backend.js';
import { HB_SYS_INVALID_ARGUMENT, HbSysError } from './status.js';

/** The names of the backends. */
export type BackendName = 'emulator' | 'native';

/** What a backend implements: the eight functions, after generic validation. */
export interface Backend {
  readonly name: BackendName;
  /** `size` is an integer in 1 … 2^32-1; `mem` is an object whose fields can be set. */
  allocMem(mem: hbSysMem, size: number, cached: boolean, label?: string): number;
  /** `flag` is 1 or 2. */
  flushMem(mem: hbSysMem, flag: HbSysFlushFlag): number;
  freeMem(mem: hbSysMem): number;
  /** `size` is an integer in 1 … `src.byteLength`. */
  writeMem(dest: hbSysMem, src: Uint8Array, size: number): number;
  /** `size` is an integer in 1 … `dest.byteLength`. */
  readMem(dest: Uint8Array, src: hbSysMem, size: number): number;
  registerMem(mem: hbSysMem): number;
  unregisterMem(mem: hbSysMem): number;
  /** Whether a live `mem` is a cached mapping; undefined if it is not live. */
  isCached(mem: hbSysMem): boolean | undefined;
  /**
   * The idiomatic buffer is about to let the CPU read `[offset, offset + size)` of a live
   * mapping. A backend with a sanitizer checks the read here.
   */
  noteCpuRead?(mem: hbSysMem, offset: number, size: number, how?: string): void;
  /**
   * The model API (`hb_dnn.h`) of this backend, made on first use. Throws an HbSysError
   * that says why when it cannot be had (no ONNX runtime installed, no libdnn symbols).
   */
  dnn?(): DnnBackend;
}

type Loader = () => Backend;

/**
 * Every backend, by name. A loader runs only when its backend is chosen: the native one
 * loads koffi and libdnn.so then, and throws (listing the paths tried) if it cannot.
 */
const loaders = new Map<BackendName, Loader>([
  ['emulator', () => emulatorBackend],
  ['native', nativeBackend],
]);
let current: Backend | undefined;

/**
 * Selects the backend that the eight functions and the buffers use from now on. Throws
 * an HbSysError that says why when the backend cannot be loaded (for `native`: which
 * libdnn.so paths were tried and why each failed).
 */
export function useBackend(name: BackendName): Backend {
  const loader = loaders.get(name);
  if (loader === undefined) {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `unknown backend '${String(name)}': use one of ${[...loaders.keys()].join(', ')}`,
    );
  }
  current = loader();
  return current;
}

/** The backend in use, chosen from `HBSYS_BACKEND` on first call. */
export function currentBackend(): Backend {
  if (current !== undefined) return current;
  const fromEnv = process.env.HBSYS_BACKEND;
  const name = fromEnv === undefined || fromEnv === '' ? 'emulator' : fromEnv;
  if (name !== 'emulator' && name !== 'native') {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `HBSYS_BACKEND must be 'emulator' or 'native', got '${name}'`,
    );
  }
  return useBackend(name);
}

/** The name of the backend in use (choosing it if none is yet). */
export function backendName(): BackendName {
  return currentBackend().name;
}
