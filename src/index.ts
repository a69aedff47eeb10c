/**
 * hbsys: the BPU memory API of Horizon/D-Robotics boards for Node.js.
 *
 * The eight functions of `dnn/hb_sys.h` with their C names and status codes, an idiomatic
 * buffer API, and the emulator backend's control surface.
 */

export { type Backend, type BackendName, backendName, useBackend } from './backend.js';
export {
  type AllocateOptions,
  allocate,
  HbSysBuffer,
  register,
  type TypedArrayConstructor,
} from './buffer.js';
export type {
  DnnBackend,
  DnnResult,
  InferCtrlSnapshot,
  ResizeCtrlSnapshot,
  TensorSnapshot,
} from './dnn/backend.js';
export {
  hbDNNGetErrorDesc,
  hbDNNGetInputCount,
  hbDNNGetInputName,
  hbDNNGetInputTensorProperties,
  hbDNNGetModelHandle,
  hbDNNGetModelNameList,
  hbDNNGetOutputCount,
  hbDNNGetOutputName,
  hbDNNGetOutputTensorProperties,
  hbDNNGetVersion,
  hbDNNInfer,
  hbDNNInitializeFromFiles,
  hbDNNRelease,
  hbDNNReleaseTask,
  hbDNNResize,
  hbDNNWaitTaskDone,
  hbDNNWaitTaskDoneAsync,
} from './dnn/hbdnn.js';
export {
  describeDnnStatus,
  HB_DNN_API_USE_ERROR,
  HB_DNN_CAN_NOT_OPEN_FILE,
  HB_DNN_INCOMPATIBLE_MODEL,
  HB_DNN_INVALID_ARGUMENT,
  HB_DNN_INVALID_DNN_HANDLE,
  HB_DNN_INVALID_MODEL,
  HB_DNN_INVALID_PACKED_DNN_HANDLE,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_MODEL_IS_RUNNING,
  HB_DNN_MODEL_NUMBER_EXCEED_LIMIT,
  HB_DNN_MULTI_PROGRESS_USE_ERROR,
  HB_DNN_OUT_OF_MEMORY,
  HB_DNN_RUN_TASK_FAILED,
  HB_DNN_SUCCESS,
  HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_DNN_TIMEOUT,
  type HbDNNFailure,
  type HbDNNStatusName,
  hbDNNGetLastError,
  hbDNNStatusName,
} from './dnn/status.js';
export * from './dnn/types.js';
export type { TensorData } from './dnn-model/element.js';
export { HbDNNError } from './dnn-model/error.js';
export {
  type InferOptions,
  type LoadOptions,
  loadModel,
  Model,
  type TensorInfo,
} from './dnn-model/model.js';
export { resizeImage } from './dnn-model/resize.js';
export {
  allocateTensor,
  DnnTensor,
  type TensorOptions,
  wrapTensor,
} from './dnn-model/tensor.js';
export {
  BpuFaultError,
  type CacheModel,
  type EmulatorBackend,
  type EmulatorOptions,
  type EmulatorStats,
  emulator,
  type Finding,
  type FindingKind,
  type FindingSeverity,
  HbSysSanitizerError,
  type KernelArgs,
  type KernelName,
  type SanitizeMode,
} from './emulator/index.js';
export type { Conv3x3Int8Args } from './emulator/kernels/conv3x3-int8.js';
export type { CopyArgs } from './emulator/kernels/copy.js';
export type { FillArgs } from './emulator/kernels/fill.js';
export type { Nv12ToRgbArgs } from './emulator/kernels/nv12-to-rgb.js';
export {
  type Conv3x3Shape,
  type Nv12ToRgbShape,
  type ResizeFormat,
  type ResizeImage,
  type ResizeRoi,
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
  DUMP_VERSION,
  type DumpBlock,
  type DumpMapping,
  type DumpRegion,
  type DumpRegistration,
  dumpHeap,
  type HeapDump,
  type HexAddress,
} from './observe/dump.js';
export type { FindingJson, Severity } from './observe/findings.js';
export {
  type DetailedStats,
  type LabelUse,
  type MemoryStats,
  type NativeObservedStats,
  type ObservedStats,
  observeStats,
  type StatsOptions,
} from './observe/stats.js';
export { type ChromeTrace, type TraceEvent, TraceRecorder } from './observe/trace.js';
export type { MemSnapshot } from './snapshot.js';
export {
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  HBSYS_BACKEND_UNAVAILABLE,
  HbSysError,
  type HbSysFailure,
  type HbSysFailureCode,
  type HbSysKnownFailure,
  type HbSysStatusCode,
  type HbSysStatusName,
  type HbSysUnknownStatus,
  hbSysGetErrorDesc,
  hbSysGetLastError,
  hbSysStatusName,
} from './status.js';
