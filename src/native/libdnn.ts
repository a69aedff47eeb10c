/**
 * The binding of the vendor's `libdnn.so` (header `dnn/hb_sys.h`): the only file that
 * touches koffi.
 *
 * koffi is loaded lazily, with `createRequire`, the first time a library is loaded: the
 * emulator, and any program that never chooses the native backend, never loads it.
 *
 * Each hbSysMem lives in its own 24-byte native struct (`koffi.alloc`), made once per
 * allocation or registration and passed to C as a pointer: a call marshals two integers,
 * never a JS object. TypeScript reads and writes the struct's fields through a view of
 * those 24 bytes.
 */

import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { HB_DNN_RUN_TASK_FAILED } from '../dnn/status.js';
import { HB_SYS_INVALID_ARGUMENT, HBSYS_BACKEND_UNAVAILABLE, HbSysError } from '../status.js';

/** The address of a native hbSysMem struct. Only this module makes them. */
export type StructPointer = bigint & { readonly __brand: 'hbSysMem *' };

/** The fields of one native hbSysMem, read and written in place. */
export interface StructFields {
  readonly pointer: StructPointer;
  /** [0] is phyAddr, [1] is virAddr (the address as an integer). */
  readonly u64: BigUint64Array;
  /** [4] is memSize. */
  readonly u32: Uint32Array;
}

/** Index of `phyAddr` in {@link StructFields.u64}. */
export const PHY_ADDR = 0;
/** Index of `virAddr` in {@link StructFields.u64}. */
export const VIR_ADDR = 1;
/** Index of `memSize` in {@link StructFields.u32}. */
export const MEM_SIZE = 4;

/** The layout of hbSysMem as koffi lays it out; the contract is 24 bytes at 0, 8, 16. */
export interface StructLayout {
  size: number;
  alignment: number;
  phyAddr: number;
  virAddr: number;
  memSize: number;
}

/** The eight functions with their C signatures, and what the backend needs around them. */
export interface Libdnn {
  /** The path (or name) that loaded. */
  readonly path: string;
  hbSysAllocMem(mem: StructPointer, size: number): number;
  hbSysAllocCachedMem(mem: StructPointer, size: number): number;
  hbSysFlushMem(mem: StructPointer, flag: number): number;
  hbSysFreeMem(mem: StructPointer): number;
  hbSysWriteMem(dest: StructPointer, src: Uint8Array, size: number): number;
  hbSysReadMem(dest: Uint8Array, src: StructPointer, size: number): number;
  hbSysRegisterMem(mem: StructPointer): number;
  hbSysUnregisterMem(mem: StructPointer): number;
  /** A new zeroed native hbSysMem; release it with {@link Libdnn.freeStruct}. */
  allocStruct(): StructFields;
  freeStruct(fields: StructFields): void;
  /** A zero-copy view of `size` bytes of native memory at `address`. */
  mapping(address: bigint, size: number): ArrayBuffer;
}

/** The C declarations, exactly as in `dnn/hb_sys.h`. */
const PROTOTYPES = [
  'int32_t hbSysAllocMem(hbSysMem *mem, uint32_t size)',
  'int32_t hbSysAllocCachedMem(hbSysMem *mem, uint32_t size)',
  'int32_t hbSysFlushMem(hbSysMem *mem, int32_t flag)',
  'int32_t hbSysFreeMem(hbSysMem *mem)',
  'int32_t hbSysWriteMem(hbSysMem *dest, char *src, uint32_t size)',
  'int32_t hbSysReadMem(char *dest, hbSysMem *src, uint32_t size)',
  'int32_t hbSysRegisterMem(hbSysMem *mem)',
  'int32_t hbSysUnregisterMem(hbSysMem *mem)',
] as const;

type FunctionName =
  | 'hbSysAllocMem'
  | 'hbSysAllocCachedMem'
  | 'hbSysFlushMem'
  | 'hbSysFreeMem'
  | 'hbSysWriteMem'
  | 'hbSysReadMem'
  | 'hbSysRegisterMem'
  | 'hbSysUnregisterMem';

/**
 * Where RDK images put libdnn.so, in the order tried when `HBSYS_LIBDNN` is not set:
 * the X5 (and later) images keep the vendor libraries in /usr/hobot/lib, the X3 Ubuntu
 * images in /usr/lib/hbbpu; some images and SDK installs put it on the plain library path.
 * The bare name last lets the dynamic linker search (`LD_LIBRARY_PATH`, ld.so.cache).
 */
export const DEFAULT_LIBDNN_PATHS: readonly string[] = [
  '/usr/hobot/lib/libdnn.so',
  '/usr/lib/hbbpu/libdnn.so',
  '/usr/lib/libdnn.so',
  '/usr/lib/aarch64-linux-gnu/libdnn.so',
  'libdnn.so',
];

/** The paths to try: `HBSYS_LIBDNN` alone when it is set, else {@link DEFAULT_LIBDNN_PATHS}. */
export function libdnnCandidates(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const chosen = env.HBSYS_LIBDNN;
  return chosen === undefined || chosen === '' ? DEFAULT_LIBDNN_PATHS : [chosen];
}

// biome-ignore lint/suspicious/noExplicitAny: koffi's module object, typed where it is used
type Koffi = any;
let koffiModule: Koffi | undefined;
let structType: { size: number; alignment: number } | undefined;

/** koffi, loaded on first need; the hbSysMem type declared once (koffi's names are global). */
function koffi(): Koffi {
  if (koffiModule !== undefined) return koffiModule;
  let k: Koffi;
  try {
    k = createRequire(import.meta.url)('koffi');
  } catch (error) {
    throw new HbSysError(
      HBSYS_BACKEND_UNAVAILABLE,
      `native backend: koffi, the FFI library it needs, could not be loaded ` +
        `(${reason(error)}); install hbsys with its dependencies (npm install) on this machine`,
    );
  }
  structType = k.struct('hbSysMem', {
    phyAddr: 'uint64_t',
    virAddr: 'void *',
    memSize: 'uint32_t',
  });
  koffiModule = k;
  return k;
}

/** The layout koffi gives hbSysMem on this machine. */
export function structLayout(): StructLayout {
  const k = koffi();
  return {
    size: k.sizeof('hbSysMem'),
    alignment: structType!.alignment,
    phyAddr: k.offsetof('hbSysMem', 'phyAddr'),
    virAddr: k.offsetof('hbSysMem', 'virAddr'),
    memSize: k.offsetof('hbSysMem', 'memSize'),
  };
}

/**
 * Loads the first of `candidates` that is a libdnn with the eight functions. Throws an
 * HbSysError that lists every path tried and why each failed.
 */
export function loadLibdnn(candidates: readonly string[] = libdnnCandidates()): Libdnn {
  const k = koffi();
  const layout = structLayout();
  if (layout.size !== 24 || layout.phyAddr !== 0 || layout.virAddr !== 8 || layout.memSize !== 16) {
    throw new HbSysError(
      HBSYS_BACKEND_UNAVAILABLE,
      `native backend: hbSysMem is laid out as ${JSON.stringify(layout)} on this machine, not ` +
        '24 bytes at offsets 0/8/16 as on the 64-bit boards; the native backend needs a 64-bit process',
    );
  }
  const tried: string[] = [];
  for (const path of candidates) {
    const notAFile = notALibraryFile(path);
    if (notAFile !== undefined) {
      tried.push(`${path}: ${notAFile}`);
      continue;
    }
    let lib: Koffi;
    try {
      lib = k.load(path);
    } catch (error) {
      tried.push(`${path}: ${reason(error)}`);
      continue;
    }
    const fns = new Map<FunctionName, (...args: unknown[]) => number>();
    const missing: string[] = [];
    for (const prototype of PROTOTYPES) {
      const name = /(hbSys\w+)\(/.exec(prototype)![1] as FunctionName;
      try {
        fns.set(name, lib.func(prototype));
      } catch {
        missing.push(name);
      }
    }
    if (missing.length > 0) {
      lib.unload();
      tried.push(`${path}: loaded, but it has no ${missing.join(', ')}: not the BPU runtime`);
      continue;
    }
    pin(k, path);
    return bind(k, path, fns);
  }
  throw new HbSysError(
    HBSYS_BACKEND_UNAVAILABLE,
    'native backend: could not load libdnn.so, the BPU runtime of RDK boards. Tried:\n' +
      tried.map((t) => `  ${t}`).join('\n') +
      '\nSet HBSYS_LIBDNN=/path/to/libdnn.so, or run on the emulator (HBSYS_BACKEND=emulator)',
  );
}

/** `RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE`, as glibc and musl define them on Linux. */
const RTLD_PIN = 0x2 | 0x4 | 0x1000;

/**
 * Keeps the library at `path` (just loaded) mapped until the process ends. koffi closes each
 * library it opened when the thread that opened it tears down (the main thread when the
 * program ends, a worker when it stops), and the last close unmaps it. libdnn runs tasks on
 * threads of its own, which may still be in its code then: a task released before it
 * completed, or the thread of a task just completed, on its way out of libdnn after waking
 * the waiter. Such a thread crashes the process (SIGSEGV) when it next runs. A second
 * dlopen of the loaded library with RTLD_NODELETE makes every close leave it in place.
 */
function pin(k: Koffi, path: string): void {
  if (process.platform !== 'linux') return;
  // load(null) is the process's global scope, which has dlopen (node itself calls it); koffi
  // never closes it. A process where that fails still runs libdnn, without the pin.
  try {
    dlopen ??= k.load(null).func('void *dlopen(const char *file, int mode)') as Dlopen;
    dlopen(path, RTLD_PIN);
  } catch {}
}

type Dlopen = (file: string, mode: number) => unknown;
let dlopen: Dlopen | undefined;

/**
 * Why `path` cannot be a shared library, found without opening it; undefined when it may be
 * one. A name without a slash is for the dynamic linker to search, so it is left to it. A
 * FIFO would block the loader's open() for ever, and a directory or device is no library.
 */
function notALibraryFile(path: string): string | undefined {
  if (!path.includes('/')) return undefined;
  let kind: string;
  try {
    const stat = statSync(path);
    if (stat.isFile()) return undefined;
    kind = stat.isDirectory()
      ? 'a directory'
      : stat.isFIFO()
        ? 'a FIFO (named pipe)'
        : stat.isSocket()
          ? 'a socket'
          : 'a device';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : reason(error);
  }
  return `${kind}, not a shared library file: not opened`;
}

function bind(
  k: Koffi,
  path: string,
  fns: Map<FunctionName, (...args: unknown[]) => number>,
): Libdnn {
  const fn = (name: FunctionName) => fns.get(name)!;
  return {
    path,
    hbSysAllocMem: fn('hbSysAllocMem'),
    hbSysAllocCachedMem: fn('hbSysAllocCachedMem'),
    hbSysFlushMem: fn('hbSysFlushMem'),
    hbSysFreeMem: fn('hbSysFreeMem'),
    hbSysWriteMem: fn('hbSysWriteMem'),
    hbSysReadMem: fn('hbSysReadMem'),
    hbSysRegisterMem: fn('hbSysRegisterMem'),
    hbSysUnregisterMem: fn('hbSysUnregisterMem'),
    allocStruct(): StructFields {
      const pointer = k.alloc('hbSysMem', 1) as StructPointer;
      const bytes: ArrayBuffer = k.view(pointer, 24);
      const u64 = new BigUint64Array(bytes);
      u64.fill(0n);
      return { pointer, u64, u32: new Uint32Array(bytes) };
    },
    freeStruct(fields: StructFields): void {
      k.free(fields.pointer);
    },
    mapping(address: bigint, size: number): ArrayBuffer {
      return k.view(address, size);
    },
  };
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
}

// ---- dnn/hb_dnn.h -------------------------------------------------------------------------

/**
 * A block of native memory (malloc'd by koffi) that hbsys lays hbDNN structs into, with a
 * view of its bytes. C holds its address for as long as a task may read it.
 */
export interface NativeBlock {
  readonly address: bigint;
  readonly size: number;
  readonly bytes: DataView;
}

/**
 * The hbDNN functions of one libdnn. Every pointer is a `void *` (a bigint address): hbsys
 * lays the structs out itself, because their layout depends on the library's version (three
 * generations), which koffi's static struct types could not follow.
 */
export interface LibdnnDnn {
  readonly path: string;
  hbDNNGetVersion(): string | null;
  hbDNNInitializeFromFiles(packed: bigint, files: readonly string[], count: number): number;
  hbDNNRelease(packed: bigint): number;
  hbDNNGetModelNameList(list: bigint, count: bigint, packed: bigint): number;
  hbDNNGetModelHandle(model: bigint, packed: bigint, name: string): number;
  hbDNNGetInputCount(count: bigint, model: bigint): number;
  hbDNNGetOutputCount(count: bigint, model: bigint): number;
  hbDNNGetInputName(name: bigint, model: bigint, index: number): number;
  hbDNNGetOutputName(name: bigint, model: bigint, index: number): number;
  hbDNNGetInputTensorProperties(properties: bigint, model: bigint, index: number): number;
  hbDNNGetOutputTensorProperties(properties: bigint, model: bigint, index: number): number;
  hbDNNInfer(task: bigint, output: bigint, input: bigint, model: bigint, ctrl: bigint): number;
  hbDNNWaitTaskDone(task: bigint, timeoutMs: number): number;
  /** The same wait on one of koffi's worker threads; `done` runs on this thread after. */
  hbDNNWaitTaskDoneAsync(task: bigint, timeoutMs: number, done: (code: number) => void): void;
  hbDNNReleaseTask(task: bigint): number;
  /** Exported up to libdnn 1.18.x only. */
  readonly hbDNNResize:
    | ((task: bigint, output: bigint, input: bigint, roi: bigint, ctrl: bigint) => number)
    | undefined;
  /** Exported from libdnn 1.24 on only. */
  readonly hbDNNGetErrorDesc: ((code: number) => string | null) | undefined;
  /** `size` bytes of zeroed native memory; throws when malloc fails. */
  allocBlock(size: number): NativeBlock;
  freeBlock(block: NativeBlock): void;
  /** A copy of `size` bytes of library memory at `address`. */
  readBytes(address: bigint, size: number): Uint8Array;
  /** The NUL-terminated string at `address`; null for a null pointer. */
  readString(address: bigint): string | null;
}

/** The C declarations of `dnn/hb_dnn.h`, each pointer as `void *` (see {@link LibdnnDnn}). */
const DNN_PROTOTYPES = {
  // char const *hbDNNGetVersion()
  hbDNNGetVersion: 'const char *hbDNNGetVersion()',
  // (hbPackedDNNHandle_t *packedDNNHandle, char const **modelFileNames, int32_t modelFileCount)
  hbDNNInitializeFromFiles:
    'int32_t hbDNNInitializeFromFiles(void *packedDNNHandle, const char **modelFileNames, int32_t modelFileCount)',
  hbDNNRelease: 'int32_t hbDNNRelease(void *packedDNNHandle)',
  // (char const ***modelNameList, int32_t *modelNameCount, hbPackedDNNHandle_t)
  hbDNNGetModelNameList:
    'int32_t hbDNNGetModelNameList(void *modelNameList, void *modelNameCount, void *packedDNNHandle)',
  hbDNNGetModelHandle:
    'int32_t hbDNNGetModelHandle(void *dnnHandle, void *packedDNNHandle, const char *modelName)',
  hbDNNGetInputCount: 'int32_t hbDNNGetInputCount(void *inputCount, void *dnnHandle)',
  hbDNNGetOutputCount: 'int32_t hbDNNGetOutputCount(void *outputCount, void *dnnHandle)',
  hbDNNGetInputName: 'int32_t hbDNNGetInputName(void *name, void *dnnHandle, int32_t inputIndex)',
  hbDNNGetOutputName:
    'int32_t hbDNNGetOutputName(void *name, void *dnnHandle, int32_t outputIndex)',
  hbDNNGetInputTensorProperties:
    'int32_t hbDNNGetInputTensorProperties(void *properties, void *dnnHandle, int32_t inputIndex)',
  hbDNNGetOutputTensorProperties:
    'int32_t hbDNNGetOutputTensorProperties(void *properties, void *dnnHandle, int32_t outputIndex)',
  // (hbDNNTaskHandle_t *taskHandle, hbDNNTensor **output, hbDNNTensor const *input,
  //  hbDNNHandle_t dnnHandle, hbDNNInferCtrlParam *inferCtrlParam)
  hbDNNInfer:
    'int32_t hbDNNInfer(void *taskHandle, void *output, void *input, void *dnnHandle, void *inferCtrlParam)',
  hbDNNWaitTaskDone: 'int32_t hbDNNWaitTaskDone(void *taskHandle, int32_t timeout)',
  hbDNNReleaseTask: 'int32_t hbDNNReleaseTask(void *taskHandle)',
} as const;

const DNN_OPTIONAL_PROTOTYPES = {
  // (hbDNNTaskHandle_t *taskHandle, hbDNNTensor *output, hbDNNTensor const *input,
  //  hbDNNRoi const *roi, hbDNNResizeCtrlParam *resizeCtrlParam): one output tensor, not **
  hbDNNResize:
    'int32_t hbDNNResize(void *taskHandle, void *output, void *input, void *roi, void *resizeCtrlParam)',
  hbDNNGetErrorDesc: 'const char *hbDNNGetErrorDesc(int32_t errorCode)',
} as const;

/**
 * The hbDNN functions of `lib`. The library is opened again by its path: the dynamic linker
 * hands back the instance already loaded (the same handle, the same state), so hbSys memory
 * and hbDNN tasks meet in one library. Optional symbols are looked up, never assumed. Throws
 * an HbSysError naming the missing functions when `lib` has no model API.
 */
export function bindDnn(lib: Libdnn): LibdnnDnn {
  const k = koffi();
  let handle: Koffi;
  try {
    handle = k.load(lib.path);
  } catch (error) {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `native backend: could not open ${lib.path} again for hbDNN (${reason(error)})`,
    );
  }
  const has = (name: string): boolean => {
    try {
      handle.symbol(name);
      return true;
    } catch {
      return false;
    }
  };
  const missing = Object.keys(DNN_PROTOTYPES).filter((name) => !has(name));
  if (missing.length > 0) {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `native backend: ${lib.path} has the hbSys functions but not the model API ` +
        `(no ${missing.join(', ')}): use the libdnn.so of the board's BPU runtime ` +
        '(HBSYS_LIBDNN=/path/to/libdnn.so)',
    );
  }
  // biome-ignore lint/suspicious/noExplicitAny: koffi's functions are untyped
  const f: Record<string, any> = {};
  for (const [name, prototype] of Object.entries(DNN_PROTOTYPES)) f[name] = handle.func(prototype);
  for (const [name, prototype] of Object.entries(DNN_OPTIONAL_PROTOTYPES)) {
    if (has(name)) f[name] = handle.func(prototype);
  }
  const wait = f.hbDNNWaitTaskDone;
  return {
    path: lib.path,
    hbDNNGetVersion: f.hbDNNGetVersion,
    hbDNNInitializeFromFiles: f.hbDNNInitializeFromFiles,
    hbDNNRelease: f.hbDNNRelease,
    hbDNNGetModelNameList: f.hbDNNGetModelNameList,
    hbDNNGetModelHandle: f.hbDNNGetModelHandle,
    hbDNNGetInputCount: f.hbDNNGetInputCount,
    hbDNNGetOutputCount: f.hbDNNGetOutputCount,
    hbDNNGetInputName: f.hbDNNGetInputName,
    hbDNNGetOutputName: f.hbDNNGetOutputName,
    hbDNNGetInputTensorProperties: f.hbDNNGetInputTensorProperties,
    hbDNNGetOutputTensorProperties: f.hbDNNGetOutputTensorProperties,
    hbDNNInfer: f.hbDNNInfer,
    hbDNNWaitTaskDone: wait,
    hbDNNWaitTaskDoneAsync(task, timeoutMs, done) {
      wait.async(task, timeoutMs, (error: unknown, code: number) => {
        // koffi reports only its own failures here (C returns a code); treat one as a failed run.
        done(error ? HB_DNN_RUN_TASK_FAILED : code);
      });
    },
    hbDNNReleaseTask: f.hbDNNReleaseTask,
    hbDNNResize: f.hbDNNResize,
    hbDNNGetErrorDesc: f.hbDNNGetErrorDesc,
    allocBlock(size: number): NativeBlock {
      const address = k.alloc('uint8_t', size) as bigint;
      const buffer: ArrayBuffer = k.view(address, size);
      new Uint8Array(buffer).fill(0);
      return { address, size, bytes: new DataView(buffer) };
    },
    freeBlock(block: NativeBlock): void {
      k.free(block.address);
    },
    readBytes(address: bigint, size: number): Uint8Array {
      return size === 0 ? new Uint8Array(0) : new Uint8Array(k.view(address, size)).slice();
    },
    readString(address: bigint): string | null {
      return address === 0n ? null : k.decode.string(address);
    },
  };
}
