/**
 * The eight functions of `dnn/hb_sys.h`, with the C names, argument order and status codes.
 *
 * Each reads the fields of the caller's `mem` once (a snapshot, see snapshot.ts), then its
 * host bytes through the engine's own accessors (host-bytes.ts: after the snapshot, whose
 * getters may resize them), validates what needs no machine (the shape of `mem`, sizes,
 * flags, host bytes) and hands the snapshot to the current backend. None throws, whatever
 * it is given: a failure is a status code, and {@link hbSysGetLastError} says what was
 * wrong and what to do. The one exception is the sanitizer in `throw` mode, whose purpose
 * is to stop at the hazard.
 */

import { types } from 'node:util';
import { currentBackend } from './backend.js';
import { describe } from './describe.js';
import { hostBytes } from './host-bytes.js';
import {
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  type HbSysFlushFlag,
  type HostBytes,
  type hbSysMem,
  MAX_MEM_SIZE,
} from './mem.js';
import { errorText, type MemSnapshot, snapshotMem } from './snapshot.js';
import {
  fail,
  HB_SYS_INVALID_ARGUMENT,
  HbSysError,
  type HbSysFailureCode,
  type HbSysStatusCode,
} from './status.js';

export { describe } from './describe.js';

/**
 * Allocates `size` bytes of BPU memory, uncached for the CPU, and fills `mem`.
 *
 * @example
 * ```ts
 * const mem = {} as hbSysMem;
 * if (hbSysAllocMem(mem, 4096) !== HB_SYS_SUCCESS) throw new Error(hbSysGetLastError()?.message);
 * ```
 */
export function hbSysAllocMem(mem: hbSysMem, size: number): HbSysStatusCode {
  return alloc('hbSysAllocMem', mem, size, false);
}

/**
 * Allocates `size` bytes of BPU memory that the CPU reaches through its cache: CLEAN after
 * the CPU writes, INVALIDATE before it reads what the BPU wrote (see {@link hbSysFlushMem}).
 *
 * @example
 * ```ts
 * const tensor = {} as hbSysMem;
 * if (hbSysAllocCachedMem(tensor, 224 * 224 * 3) !== HB_SYS_SUCCESS) {
 *   throw new Error(hbSysGetLastError()?.message);
 * }
 * ```
 */
export function hbSysAllocCachedMem(mem: hbSysMem, size: number): HbSysStatusCode {
  return alloc('hbSysAllocCachedMem', mem, size, true);
}

/** @internal Allocation with a label, for the idiomatic API. */
export function allocLabelled(mem: hbSysMem, size: number, cached: boolean, label?: string) {
  return alloc(cached ? 'hbSysAllocCachedMem' : 'hbSysAllocMem', mem, size, cached, label);
}

function alloc(
  fn: string,
  mem: hbSysMem,
  size: number,
  cached: boolean,
  label?: string,
): HbSysStatusCode {
  // guard's work spelled out: alloc and free are the hot pair, and a closure per call is
  // garbage per call.
  try {
    if (!isFillable(mem)) return badMem(fn, mem, 'an object whose fields can be set');
    if (!isSize(size)) {
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `size must be an integer in 1 … 2^32-1, got ${describe(size)}`,
      );
    }
    // The backend fills mem, and frees the block again if mem refuses a field.
    return currentBackend().allocMem(mem, size, cached, label);
  } catch (error) {
    return caught(fn, error);
  }
}

/**
 * Cache maintenance on cached memory over `[phyAddr, phyAddr + memSize)`, widened to whole
 * cache lines: `HB_SYS_MEM_CACHE_CLEAN` after the CPU writes and before the BPU reads,
 * `HB_SYS_MEM_CACHE_INVALIDATE` before the CPU reads what the BPU wrote. On uncached
 * memory it succeeds and does nothing. `flag` is typed {@link HbSysFlushFlag}, so any
 * other number is a compile error (and INVALID_ARGUMENT from JavaScript).
 *
 * @example
 * ```ts
 * input.virAddr!.set(pixels);
 * hbSysFlushMem(input, HB_SYS_MEM_CACHE_CLEAN);         // before the BPU reads input
 * await emulator.bpu.copy(output.phyAddr, input.phyAddr, input.memSize);
 * hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);   // before the CPU reads output
 * ```
 */
export function hbSysFlushMem(mem: hbSysMem, flag: HbSysFlushFlag): HbSysStatusCode {
  const fn = 'hbSysFlushMem';
  // guard's work spelled out, as in alloc: a flush is a call of every frame.
  try {
    if (!isObject(mem)) return badMem(fn, mem, 'the hbSysMem of an allocation or registration');
    const snap = read(fn, mem);
    if (typeof snap === 'number') return snap;
    if (flag !== HB_SYS_MEM_CACHE_CLEAN && flag !== HB_SYS_MEM_CACHE_INVALIDATE) {
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `flag must be HB_SYS_MEM_CACHE_CLEAN (2) or HB_SYS_MEM_CACHE_INVALIDATE (1), got ${describe(flag)}`,
      );
    }
    return currentBackend().flushMem(snap, flag);
  } catch (error) {
    return caught(fn, error);
  }
}

/**
 * Frees what hbSysAllocMem or hbSysAllocCachedMem returned; sets `mem.virAddr` to null.
 * A second free, a copy of a freed mem, or a registration is INVALID_ARGUMENT.
 *
 * @example
 * ```ts
 * hbSysFreeMem(tensor);   // HB_SYS_SUCCESS; tensor.virAddr is now null
 * ```
 */
export function hbSysFreeMem(mem: hbSysMem): HbSysStatusCode {
  const fn = 'hbSysFreeMem';
  // guard's work spelled out, as in alloc.
  try {
    const field = clearableField(mem);
    if (field === false) return badMem(fn, mem, 'the hbSysMem of a live allocation');
    const snap = read(fn, mem, field);
    if (typeof snap === 'number') return snap;
    return currentBackend().freeMem(snap);
  } catch (error) {
    return caught(fn, error);
  }
}

/**
 * Copies `size` bytes of `src` into the memory of `dest` through its CPU mapping. It does
 * not flush: after writing cached memory, CLEAN it before the BPU reads.
 *
 * @example
 * ```ts
 * hbSysWriteMem(input, pixels, pixels.byteLength);
 * hbSysFlushMem(input, HB_SYS_MEM_CACHE_CLEAN);
 * ```
 */
export function hbSysWriteMem(dest: hbSysMem, src: HostBytes, size: number): HbSysStatusCode {
  const fn = 'hbSysWriteMem';
  return guard(fn, () => {
    if (!isObject(dest)) return badMem(fn, dest, 'the hbSysMem to write into');
    // The mem first: its getters may resize src, whose length is taken after them.
    const snap = read(fn, dest);
    if (typeof snap === 'number') return snap;
    const bytes = hostBytes(src);
    if (typeof bytes === 'string') return badBytes(fn, 'src', src, bytes);
    if (!isSize(size) || size > bytes.byteLength) {
      return badCopySize(fn, size, 'src', bytes.byteLength);
    }
    return currentBackend().writeMem(snap, bytes, size);
  });
}

/**
 * Copies `size` bytes of the memory of `src` into `dest` through its CPU mapping. It does
 * not flush: before reading what the BPU wrote to cached memory, INVALIDATE it.
 *
 * @example
 * ```ts
 * const result = new Float32Array(1000);
 * hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
 * hbSysReadMem(result, output, result.byteLength);
 * ```
 */
export function hbSysReadMem(dest: HostBytes, src: hbSysMem, size: number): HbSysStatusCode {
  const fn = 'hbSysReadMem';
  return guard(fn, () => {
    if (!isObject(src)) return badMem(fn, src, 'the hbSysMem to read from');
    const snap = read(fn, src);
    if (typeof snap === 'number') return snap;
    const bytes = hostBytes(dest);
    if (typeof bytes === 'string') return badBytes(fn, 'dest', dest, bytes);
    if (!isSize(size) || size > bytes.byteLength) {
      return badCopySize(fn, size, 'dest', bytes.byteLength);
    }
    return currentBackend().readMem(bytes, snap, size);
  });
}

/**
 * Makes `[mem.phyAddr, mem.phyAddr + mem.memSize)`, memory with a known physical address
 * (a camera or codec buffer, or memory another process allocated), usable by the BPU, and
 * fills `mem.virAddr` with a cached mapping of it.
 *
 * @example
 * ```ts
 * const frame = { phyAddr: cameraFrameAddress, memSize: 640 * 480 * 3 / 2 } as hbSysMem;
 * if (hbSysRegisterMem(frame) === HB_SYS_SUCCESS) {
 *   hbSysFlushMem(frame, HB_SYS_MEM_CACHE_INVALIDATE);   // the camera wrote it
 *   // … frame.virAddr, frame.phyAddr for the BPU …
 *   hbSysUnregisterMem(frame);
 * }
 * ```
 */
export function hbSysRegisterMem(mem: hbSysMem): HbSysStatusCode {
  return registerLabelled(mem, undefined);
}

/** @internal Registration with a label, for the idiomatic API. */
export function registerLabelled(mem: hbSysMem, label: string | undefined): HbSysStatusCode {
  const fn = 'hbSysRegisterMem';
  return guard(fn, () => {
    if (!isFillable(mem)) return badMem(fn, mem, 'an object with phyAddr and memSize set');
    const snap = read(fn, mem);
    if (typeof snap === 'number') return snap;
    const { phyAddr, memSize } = snap;
    if (typeof phyAddr !== 'bigint' || phyAddr < 0n || phyAddr > 0xffff_ffff_ffff_ffffn) {
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `mem.phyAddr must be a uint64 bigint (for example 0x30000000n), got ${describe(phyAddr)}`,
      );
    }
    if (!isSize(memSize)) {
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `mem.memSize must be an integer in 1 … 2^32-1, got ${describe(memSize)}`,
      );
    }
    return currentBackend().registerMem({ phyAddr, memSize, source: mem, label });
  });
}

/** Ends a registration; sets `mem.virAddr` to null. The owner of the memory still frees it. */
export function hbSysUnregisterMem(mem: hbSysMem): HbSysStatusCode {
  const fn = 'hbSysUnregisterMem';
  return guard(fn, () => {
    const field = clearableField(mem);
    if (field === false) return badMem(fn, mem, 'the hbSysMem of a live registration');
    const snap = read(fn, mem, field);
    if (typeof snap === 'number') return snap;
    return currentBackend().unregisterMem(snap);
  });
}

/** The one read of `mem`'s fields, or the failure when reading them threw. */
function read(
  fn: string,
  mem: hbSysMem,
  virAddrField?: PropertyDescriptor | null,
): MemSnapshot | HbSysFailureCode {
  const snap = snapshotMem(mem, virAddrField);
  if ('error' in snap) {
    return fail(
      HB_SYS_INVALID_ARGUMENT,
      fn,
      `reading mem's fields threw (${snap.error}): pass a plain object with phyAddr, virAddr ` +
        'and memSize',
    );
  }
  return snap;
}

/** Errors that must reach the caller even from a C-style function: the sanitizer's. */
const passThrough = new Set<string>(['HbSysSanitizerError']);

function guard(fn: string, body: () => HbSysStatusCode): HbSysStatusCode {
  try {
    return body();
  } catch (error) {
    return caught(fn, error);
  }
}

/** What a call that threw returns: the failure, or the sanitizer's error thrown on. */
function caught(fn: string, error: unknown): HbSysStatusCode {
  if (isPassThrough(error)) throw error;
  // The backend could not be chosen or loaded (HBSYS_BACKEND, libdnn.so): say that.
  if (error instanceof HbSysError) return fail(error.code, fn, error.detail);
  return fail(HB_SYS_INVALID_ARGUMENT, fn, `the arguments could not be used: ${errorText(error)}`);
}

function isPassThrough(error: unknown): boolean {
  try {
    return error instanceof Error && passThrough.has(error.name);
  } catch {
    return false;
  }
}

function isObject(x: unknown): x is hbSysMem {
  return typeof x === 'object' && x !== null;
}

/**
 * Whether the three fields of `x` look writable, as an out-parameter's must (own properties
 * only: a write can still be refused, by a frozen prototype or a trap, and is then undone).
 */
export function isFillable(x: unknown): x is hbSysMem {
  if (!isObject(x) || ArrayBuffer.isView(x)) return false;
  try {
    // A fresh `{}` (alloc's usual mem) has none of the three: hasOwn answers without making
    // a descriptor; otherwise each field's descriptor says. (The same answers: hasOwn is
    // false exactly when there is no own descriptor, and a Proxy is asked through its trap.)
    if (!hasOwn(x, 'phyAddr') && !hasOwn(x, 'virAddr') && !hasOwn(x, 'memSize')) {
      return Object.isExtensible(x);
    }
    return (
      fieldWritable(x, 'phyAddr') && fieldWritable(x, 'virAddr') && fieldWritable(x, 'memSize')
    );
  } catch {
    // A Proxy whose traps throw: not an object hbsys can fill.
    return false;
  }
}

/**
 * Whether `x.virAddr` looks writable: free and unregister write that field alone (null),
 * so a read-only `phyAddr` or `memSize` does not stop them (and checking only the one
 * field spares two property descriptors a call). False when not; else the own descriptor
 * read (null when there is none), which the clear then uses instead of reading it again.
 */
function clearableField(x: unknown): PropertyDescriptor | null | false {
  if (!isObject(x) || ArrayBuffer.isView(x)) return false;
  try {
    // The one read of the descriptor: the clear records this one to put back (snapshot.ts).
    const d = Object.getOwnPropertyDescriptor(x, 'virAddr');
    if (d === undefined) return Object.isExtensible(x) ? null : false;
    return d.set !== undefined || d.writable === true ? d : false;
  } catch {
    return false;
  }
}

/** Whether an own `key` of `x` can be written, or, absent, added. */
function fieldWritable(x: object, key: string): boolean {
  const d = Object.getOwnPropertyDescriptor(x, key);
  if (d === undefined) return Object.isExtensible(x);
  return d.set !== undefined || d.writable === true;
}

const hasOwn = Object.hasOwn;

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_MEM_SIZE;
}

function badMem(fn: string, mem: unknown, expected: string): HbSysFailureCode {
  const frozen =
    isObject(mem) && !types.isProxy(mem) && !ArrayBuffer.isView(mem) && !isFillable(mem)
      ? ' (its fields cannot be set: it is frozen or sealed, or has getters without setters)'
      : '';
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `mem must be ${expected}, got ${describe(mem)}${frozen}`,
  );
}

function badBytes(fn: string, name: string, x: unknown, why: string): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `${name} must be an ArrayBuffer or a typed array / DataView with its bytes, got ` +
      `${describe(x)}: ${why}`,
  );
}

function badCopySize(fn: string, size: unknown, name: string, available: number): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `size must be an integer in 1 … ${name}.byteLength (${available}), got ${describe(size)}`,
  );
}
