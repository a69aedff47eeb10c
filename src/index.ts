/**
 * hbsys: the BPU memory API of Horizon/D-Robotics boards for Node.js.
 *
 * The eight functions of `dnn/hb_sys.h` with their C names and status codes, an idiomatic
 * buffer API, and the emulator backend's control surface.
 */

export { type BackendName, backendName, useBackend } from './backend.js';
export {
  type AllocateOptions,
  allocate,
  HbSysBuffer,
  register,
  type TypedArrayConstructor,
} from './buffer.js';
export {
  BpuFaultError,
  type CacheModel,
  type EmulatorOptions,
  type EmulatorStats,
  emulator,
  type Finding,
  type FindingKind,
  HbSysSanitizerError,
  type KernelArgs,
  type KernelName,
  type SanitizeMode,
} from './emulator/index.js';
export {
  type Conv3x3Shape,
  type Nv12ToRgbShape,
  referenceKernels,
} from './emulator/kernels/references.js';
export {
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from './hbsys.js';
export {
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  type HbSysFlushFlag,
  type HostBytes,
  type hbSysMem,
} from './mem.js';
export { type NativeBackend, nativeLibraryPath } from './native/backend.js';
export { DEFAULT_LIBDNN_PATHS } from './native/libdnn.js';
export {
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  HBSYS_BACKEND_UNAVAILABLE,
  HbSysError,
  type HbSysFailure,
  type HbSysStatusName,
  hbSysGetErrorDesc,
  hbSysGetLastError,
  hbSysStatusName,
} from './status.js';
