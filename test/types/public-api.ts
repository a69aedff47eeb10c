/**
 * The type test: how the public types must behave for a strict TypeScript program that
 * imports hbsys. It is compiled (against the package's .d.ts, by its name), never run.
 * Every `@ts-expect-error` line must fail to compile: tsc reports an unused one as an
 * error, so a type that grows too permissive fails this test.
 */

import {
  allocate,
  type Backend,
  type BackendName,
  type Conv3x3Int8Args,
  type CopyArgs,
  type EmulatorBackend,
  type EmulatorStats,
  emulator,
  type FillArgs,
  type Finding,
  type FindingKind,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  HBSYS_BACKEND_UNAVAILABLE,
  type HbSysBuffer,
  HbSysError,
  type HbSysFailure,
  type HbSysFailureCode,
  type HbSysFlushFlag,
  type HbSysKnownFailure,
  type HbSysStatusCode,
  type HbSysStatusName,
  type HbSysUnknownStatus,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
  type KernelArgs,
  type KernelName,
  type NativeBackend,
  type Nv12ToRgbArgs,
  referenceKernels,
  register,
  type TypedArrayConstructor,
  useBackend,
} from 'hbsys';

declare const mem: hbSysMem;

// --- flush flags: the two constants and nothing else --------------------------------------
hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN);
hbSysFlushMem(mem, HB_SYS_MEM_CACHE_INVALIDATE);
hbSysFlushMem(mem, 2);
const flag: HbSysFlushFlag = HB_SYS_MEM_CACHE_INVALIDATE;
hbSysFlushMem(mem, flag);
// @ts-expect-error 3 is not a flush flag
hbSysFlushMem(mem, 3);
// @ts-expect-error 0 is not a flush flag
hbSysFlushMem(mem, 0);
// @ts-expect-error any number is not a flush flag
hbSysFlushMem(mem, flag as number);

// --- status codes: literal unions, so a switch over them is checked for every code --------
function outcome(code: HbSysStatusCode): string {
  switch (code) {
    case HB_SYS_SUCCESS:
      return 'ok';
    case HB_SYS_INVALID_ARGUMENT:
      return 'bad argument';
    case HB_SYS_OUT_OF_MEMORY:
      return 'out of memory';
    case HB_SYS_REGISTER_MEM_FAILED:
      return 'register failed';
    case HBSYS_BACKEND_UNAVAILABLE:
      return 'no backend';
    default: {
      // Every listed code has its case: what is left is a vendor's own code.
      const vendorCode: HbSysUnknownStatus = code;
      return `libdnn returned ${vendorCode}`;
    }
  }
}
function forgetful(code: HbSysStatusCode): string {
  switch (code) {
    case HB_SYS_SUCCESS:
    case HB_SYS_INVALID_ARGUMENT:
      return 'ok or bad';
    default: {
      // @ts-expect-error OUT_OF_MEMORY and REGISTER_MEM_FAILED have no case
      const vendorCode: HbSysUnknownStatus = code;
      return String(vendorCode);
    }
  }
}
const codes: HbSysStatusCode[] = [
  hbSysAllocMem(mem, 64),
  hbSysAllocCachedMem(mem, 64),
  hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN),
  hbSysWriteMem(mem, new Uint8Array(64), 64),
  hbSysReadMem(new Float32Array(16), mem, 64),
  hbSysRegisterMem(mem),
  hbSysUnregisterMem(mem),
  hbSysFreeMem(mem),
];
outcome(codes[0]!);
// @ts-expect-error -1 is not a status code
const notACode: HbSysStatusCode = -1;
// @ts-expect-error a failure code is never HB_SYS_SUCCESS
const notAFailure: HbSysFailureCode = HB_SYS_SUCCESS;
const listed: HbSysKnownFailure = HB_SYS_REGISTER_MEM_FAILED;
// @ts-expect-error no literal is taken for a vendor's code
const notUnknown: HbSysUnknownStatus = -6000555;
const failure: HbSysFailure | null = hbSysGetLastError();
if (failure !== null) {
  const code: HbSysFailureCode = failure.code;
  // Undefined for a code no header lists (a vendor runtime's own).
  const name: HbSysStatusName | undefined = failure.name;
  void [code, name];
}
const freed = hbSysFreeMem(mem);
if (freed !== HB_SYS_SUCCESS) {
  // Narrowed: what is left is a failure code.
  const code: HbSysFailureCode = freed;
  void code;
}

// --- HbSysError carries a failure code --------------------------------------------------------
const error = new HbSysError(HB_SYS_OUT_OF_MEMORY, 'no room');
const errorCode: HbSysFailureCode = error.code;
// @ts-expect-error an error is never HB_SYS_SUCCESS
new HbSysError(HB_SYS_SUCCESS, 'fine');
// @ts-expect-error nor a number that is not a status code
new HbSysError(-42, 'what');

// --- useBackend returns the backend's own type ---------------------------------------------
const native: NativeBackend = useBackend('native');
const libraryPath: string = useBackend('native').libraryPath;
const detaches: boolean = native.detachesStaleViews;
const emulated: EmulatorBackend = useBackend('emulator');
const emulatorName: 'emulator' = emulated.name;
declare const chosen: BackendName;
const some: Backend = useBackend(chosen);
// @ts-expect-error the emulator backend has no libdnn.so
useBackend('emulator').libraryPath;
// @ts-expect-error a backend of unknown type is not a NativeBackend
const notNative: NativeBackend = useBackend(chosen);
// @ts-expect-error no such backend
useBackend('gpu');

// --- kernel arguments by name ---------------------------------------------------------------
const copy: CopyArgs = { dst: 0x400_0000n, src: 0x400_1000n, size: 4096 };
const fill: FillArgs = { dst: 0x400_0000n, value: 0, size: 4096 };
const resize: Nv12ToRgbArgs = {
  src: 0x400_0000n,
  srcWidth: 640,
  srcHeight: 480,
  dst: 0x500_0000n,
  dstWidth: 224,
  dstHeight: 224,
  order: 'bgr',
};
const conv: Conv3x3Int8Args = {
  input: 0n,
  weights: 0n,
  bias: 0n,
  output: 0n,
  height: 8,
  width: 8,
  inChannels: 3,
  outChannels: 4,
  multiplier: 1,
  shift: 0,
};
const args: KernelArgs = { copy, fill, nv12ToRgb: resize, conv3x3Int8: conv };
const kernel: KernelName = 'nv12ToRgb';
const job: Promise<void> = emulator.bpu.run(kernel, args[kernel]);
// @ts-expect-error fill's arguments are not copy's
emulator.bpu.run('copy', fill);
// @ts-expect-error no such kernel
emulator.bpu.run('softmax', copy);
// @ts-expect-error 'rgba' is not a channel order
const badOrder: Nv12ToRgbArgs = { ...resize, order: 'rgba' };
const rgb: Uint8Array = referenceKernels.nv12ToRgb(new Uint8Array(640 * 480 * 1.5), resize);

// --- views: over ArrayBufferLike, since the memory may be a SharedArrayBuffer ---------------
declare const buffer: HbSysBuffer;
const scores = buffer.view(Float32Array);
const scoresType: Float32Array<ArrayBufferLike> = scores;
const backing: ArrayBufferLike = scores.buffer;
// @ts-expect-error the memory may be shared (the emulator's is): not an ArrayBuffer
const owned: ArrayBuffer = scores.buffer;
const big: BigInt64Array<ArrayBufferLike> = buffer.view(BigInt64Array, 8, 2);
// @ts-expect-error a DataView is not a typed-array class
buffer.view(DataView);
const ctor: TypedArrayConstructor<Int16Array<ArrayBufferLike>> = Int16Array;
// @ts-expect-error a view of mapped memory, not a Uint8Array over an ArrayBuffer
const mapped: Uint8Array<ArrayBuffer> = buffer.bytes;

// --- the idiomatic API ------------------------------------------------------------------------
function pipeline(): void {
  using input = allocate(4096, { cached: true, label: 'input' });
  using frame = register(0x3000_0000n, 4096, { label: 'frame' });
  input.write(frame.invalidate().read()).clean();
  // @ts-expect-error cached is a boolean
  allocate(64, { cached: 'yes' });
  // @ts-expect-error the kind is one of two
  const kind: 'vio' = input.kind;
  void kind;
}

// --- the emulator's surface -------------------------------------------------------------------
const stats: EmulatorStats = emulator.stats();
const leaks: number = stats.findingsByKind.leak;
// @ts-expect-error not a kind of finding
stats.findingsByKind.overflow;
const findings: Finding[] = emulator.findings();
const kinds: FindingKind[] = findings.map((f) => f.kind);
// @ts-expect-error not a sanitizer mode
emulator.reset({ sanitize: 'loud' });

export {
  backing,
  badOrder,
  big,
  ctor,
  detaches,
  emulatorName,
  errorCode,
  forgetful,
  job,
  kinds,
  leaks,
  libraryPath,
  listed,
  mapped,
  notACode,
  notAFailure,
  notNative,
  notUnknown,
  owned,
  pipeline,
  rgb,
  scoresType,
  some,
};
