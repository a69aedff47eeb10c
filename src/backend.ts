/**
 * The backend interface and the choice of backend.
 *
 * The eight functions read each caller's hbSysMem once (a {@link MemSnapshot}), validate
 * what they can without knowing any machine (types, sizes, flags), then hand the snapshot
 * to the current backend, which owns the memory and answers with a status code. A backend
 * acts on the snapshot and never reads the caller's fields again; it writes only the
 * out-parameters, and undoes its work when the caller's object refuses them.
 *
 * A backend is chosen once, on first use, from `HBSYS_BACKEND` (default `emulator`), or
 * explicitly with {@link useBackend}. When the one chosen from the environment cannot be
 * loaded, stderr says why once, and every call fails with HBSYS_BACKEND_UNAVAILABLE and that
 * message, without trying to load it again.
 */

import { describe } from './describe.js';
import type { DnnBackend } from './dnn/backend.js';
import { type EmulatorBackend, emulatorBackend } from './emulator/index.js';
import type { HbSysFlushFlag, hbSysMem } from './mem.js';
import { type NativeBackend, nativeBackend } from './native/backend.js';
import type { MemSnapshot } from './snapshot.js';
import { errorText } from './snapshot.js';
import {
  HB_SYS_INVALID_ARGUMENT,
  HBSYS_BACKEND_UNAVAILABLE,
  HbSysError,
  type HbSysStatusCode,
} from './status.js';

/** The names of the backends. */
export type BackendName = 'emulator' | 'native';

/** What hbSysRegisterMem hands a backend: the caller's phyAddr and memSize, read once and valid. */
export interface RegisterRequest {
  /** A uint64. */
  readonly phyAddr: bigint;
  /** An integer in 1 … 2^32-1. */
  readonly memSize: number;
  /** The caller's object, for `virAddr` (the out-parameter) only. */
  readonly source: hbSysMem;
  /** The label given to `register()`, carried into findings, dumps and traces. */
  readonly label?: string;
}

/**
 * A backend: what {@link useBackend} returns, and what the eight functions call once they
 * have checked their arguments. Programs use its `name` (and, per backend, what
 * {@link NativeBackend} or {@link EmulatorBackend} add); its methods expect arguments
 * already checked, so programs call the eight functions rather than these. Host bytes
 * are fixed-length views hbsys made (see host-bytes.ts); a copy checks their length again
 * just before it runs.
 */
export interface Backend {
  /** Which backend this is. */
  readonly name: BackendName;
  /**
   * `size` is an integer in 1 … 2^32-1; `mem` is an object whose own fields look writable.
   * Fills all three fields, or, when `mem` refuses one, frees the block and fails.
   * @internal
   */
  allocMem(mem: hbSysMem, size: number, cached: boolean, label?: string): HbSysStatusCode;
  /** `flag` is 1 or 2. @internal */
  flushMem(mem: MemSnapshot, flag: HbSysFlushFlag): HbSysStatusCode;
  /** Validates fully and clears `virAddr` before it frees anything. @internal */
  freeMem(mem: MemSnapshot): HbSysStatusCode;
  /** `size` is an integer in 1 … `src.byteLength`. @internal */
  writeMem(dest: MemSnapshot, src: Uint8Array, size: number): HbSysStatusCode;
  /** `size` is an integer in 1 … `dest.byteLength`. @internal */
  readMem(dest: Uint8Array, src: MemSnapshot, size: number): HbSysStatusCode;
  /**
   * Fills `virAddr`, or, when the caller's object refuses it, ends the registration and
   * fails. @internal
   */
  registerMem(mem: RegisterRequest): HbSysStatusCode;
  /** Validates fully and clears `virAddr` before it ends anything. @internal */
  unregisterMem(mem: MemSnapshot): HbSysStatusCode;
  /** Whether a live `mem` is a cached mapping; undefined if it is not live. @internal */
  isCached(mem: MemSnapshot): boolean | undefined;
  /**
   * The idiomatic buffer is about to let the CPU read `[offset, offset + size)` of a live
   * mapping. A backend with a sanitizer checks the read here.
   * @internal
   */
  noteCpuRead?(mem: MemSnapshot, offset: number, size: number, how?: string): void;
  /**
   * The model API (`hb_dnn.h`) of this backend, made on first use. Throws an HbSysError
   * that says why when it cannot be had (no ONNX runtime installed, no libdnn symbols).
   * @internal
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
/** Why the backend chosen from the environment could not be loaded: kept, not retried. */
let unavailable: HbSysError | undefined;

/**
 * Selects the backend that the eight functions and the buffers use from now on, and
 * returns it, typed as that backend. Throws an HbSysError that says why when the backend
 * cannot be loaded (for `native`: which libdnn.so paths were tried and why each failed).
 *
 * @example
 * ```ts
 * const native = useBackend('native');   // a NativeBackend
 * console.log(native.libraryPath);       // the libdnn.so in use
 * ```
 */
export function useBackend(name: 'emulator'): EmulatorBackend;
export function useBackend(name: 'native'): NativeBackend;
export function useBackend(name: BackendName): Backend;
export function useBackend(name: BackendName): Backend {
  const loader = loaders.get(name);
  if (loader === undefined) {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `unknown backend ${describe(name)}: use one of ${[...loaders.keys()].join(', ')}`,
    );
  }
  try {
    current = loader();
  } catch (error) {
    throw asUnavailable(error);
  }
  unavailable = undefined;
  return current;
}

/**
 * The backend in use, chosen from `HBSYS_BACKEND` on first call. When that backend cannot
 * be loaded, throws an HbSysError (HBSYS_BACKEND_UNAVAILABLE) that says why, the same one
 * on every later call: the load is not tried again until {@link useBackend} is called.
 */
export function currentBackend(): Backend {
  if (current !== undefined) return current;
  if (unavailable !== undefined) throw unavailable;
  const fromEnv = process.env.HBSYS_BACKEND;
  const name = fromEnv === undefined || fromEnv === '' ? 'emulator' : fromEnv;
  try {
    if (name !== 'emulator' && name !== 'native') {
      throw new HbSysError(
        HBSYS_BACKEND_UNAVAILABLE,
        `HBSYS_BACKEND must be 'emulator' or 'native', got '${name}'`,
      );
    }
    return useBackend(name);
  } catch (error) {
    unavailable = asUnavailable(error);
    // A C-style caller sees only a code: say it once where a person will see it.
    process.stderr.write(
      `hbsys: the ${name} backend is unavailable; every hbSys call fails with ` +
        `HBSYS_BACKEND_UNAVAILABLE (${HBSYS_BACKEND_UNAVAILABLE}):\n${unavailable.detail}\n`,
    );
    throw unavailable;
  }
}

/** A load failure as an HbSysError with the code of an unavailable backend. */
function asUnavailable(error: unknown): HbSysError {
  if (error instanceof HbSysError && error.code === HBSYS_BACKEND_UNAVAILABLE) return error;
  const detail = error instanceof HbSysError ? error.detail : errorText(error);
  return new HbSysError(HBSYS_BACKEND_UNAVAILABLE, detail);
}

/** The backend in use, or undefined while none was chosen (chooses none). @internal */
export function backendInUse(): Backend | undefined {
  return current;
}

/** The name of the backend in use (choosing it if none is yet). */
export function backendName(): BackendName {
  return currentBackend().name;
}
