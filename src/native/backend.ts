/**
 * The native backend: the eight functions go to the vendor's libdnn.so on the board.
 *
 * Every argument is checked here, with the emulator's status codes, before anything reaches
 * C: a mem is live only while its `virAddr` is the very Uint8Array this backend handed out
 * for a live allocation or registration and its `phyAddr` matches (as the emulator decides),
 * or a sub-range of one (a crop: `virAddr.subarray(off)` with `phyAddr + off` and a memSize
 * that ends inside the mapping), which flush, read, write and the model API take as the
 * board does, and free and unregister refuse. So a stale copy of a freed hbSysMem, a forged
 * one, or a view of freed memory used as host bytes is refused with INVALID_ARGUMENT and
 * never becomes a dangling pointer in C.
 *
 * Every pointer and length that reaches C is hbsys's own: the struct is one hbsys allocated
 * and filled from values it validated (the caller's object was read once, in a snapshot),
 * and host bytes are a fixed-length view hbsys made, whose length is checked again just
 * before the call. Nothing a caller passes can make C read or write past a buffer.
 *
 * `virAddr` is a zero-copy view of the mapping libdnn returned, made once per allocation.
 * After free or unregister the backend drops it, sets `mem.virAddr` to null and, where the
 * runtime can (`ArrayBuffer.prototype.transfer`, Node 22 and later), detaches it, so that
 * views kept elsewhere become empty rather than aliases of memory the vendor has unmapped
 * or handed to someone else.
 */

import { types } from 'node:util';
import type { Backend, RegisterRequest } from '../backend.js';
import type { DnnBackend } from '../dnn/backend.js';
import {
  failForeignMapping,
  failMemSize,
  failMovedPhyAddr,
  failNoMapping,
  failShrunk,
  failStale,
  failSubRange,
  failUnfillable,
  hex,
  subRangeOutsideText,
  subRangePhyAddrText,
  subRangeSizeText,
} from '../handle-errors.js';
import { bufferOf, bytesLeft, hostBytes } from '../host-bytes.js';
import { HB_SYS_MEM_CACHE_CLEAN, type HbSysFlushFlag } from '../mem.js';
import { clearVirAddr, writeFields } from '../out-param.js';
import type { MemSnapshot } from '../snapshot.js';
import {
  fail,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  type HbSysFailureCode,
  hbSysGetErrorDesc,
} from '../status.js';
import { createNativeDnnBackend } from './dnn.js';
import { NativeLedger } from './ledger.js';
import {
  type Libdnn,
  loadLibdnn,
  MEM_SIZE,
  PHY_ADDR,
  type StructFields,
  VIR_ADDR,
} from './libdnn.js';

/** The native backend and what it loaded. */
export interface NativeBackend extends Backend {
  readonly name: 'native';
  /** The libdnn.so in use. */
  readonly libraryPath: string;
  /** Whether views of freed memory are detached on this runtime (Node 22 and later). */
  readonly detachesStaleViews: boolean;
  /**
   * The live native mapping behind a snapshot of an hbSysMem this backend handed out, for
   * the model API, which puts the C pointer where `virAddr` is; or what is wrong with it.
   * Records nothing: the caller fails with its own code. @internal
   */
  nativeMappingOf(mem: MemSnapshot): NativeMemRef | { readonly problem: string };
  /** What this backend handed out and has not taken back (src/native/ledger.ts). @internal */
  readonly ledger: NativeLedger;
  dnn(): DnnBackend;
}

/** What C needs of one live hbSysMem: the fields of its native struct. */
export interface NativeMemRef {
  readonly phyAddr: bigint;
  /** The CPU address of the mem's first byte (what C's `virAddr` holds; a crop's is inside). */
  readonly virAddr: bigint;
  /** The caller's memSize, checked to lie in 1 … {@link NativeMemRef.size}. */
  readonly memSize: number;
  /** Bytes from `virAddr` to the end of the allocation or registration (a crop has less). */
  readonly size: number;
}

/** One allocation or registration, as the backend tracks it. */
interface Mapping {
  readonly kind: 'allocation' | 'registration';
  readonly phyAddr: bigint;
  /** Bytes asked for (alloc) or registered. */
  readonly size: number;
  readonly cached: boolean;
  readonly label: string | undefined;
  /** The native hbSysMem passed to every call on this mapping. */
  readonly struct: StructFields;
  readonly view: Uint8Array;
  live: boolean;
}

/** A live mapping and where in it a mem starts (a sub-range mem, a crop, starts inside). */
interface Target {
  readonly m: Mapping;
  /** Offset of the mem's first byte in the mapping. */
  readonly at: number;
}

type Transferable = ArrayBuffer & { transfer?: (length?: number) => ArrayBuffer };

const canDetach = typeof (ArrayBuffer.prototype as Transferable).transfer === 'function';

/** A native backend over `lib`. Tests pass their own library; users go through the loader. */
export function createNativeBackend(lib: Libdnn): NativeBackend {
  /** Every mapping handed out, by its view (what `mem.virAddr` holds). */
  const byView = new WeakMap<Uint8Array, Mapping>();
  /** Every mapping handed out, by its ArrayBuffer: host bytes may be views of a mapping. */
  const byBuffer = new WeakMap<ArrayBufferLike, Mapping>();
  /** Live registrations: free of an allocation they lie in is refused, as the emulator does. */
  const registrations = new Set<Mapping>();
  /** What was handed out: counts, bytes, the live list for stats, dumps and the leak report. */
  const ledger = new NativeLedger();

  /**
   * The mapping a snapshot's `virAddr` views, and where the view starts in it: the view
   * handed out (by identity), or another Uint8Array over the same native memory (a crop),
   * found by its ArrayBuffer through the engine's own accessors: no code of the caller's runs.
   * A view that starts outside the mapping has `at` out of 0 … size - 1.
   */
  function locate(view: unknown): Target | undefined {
    if (typeof view !== 'object' || view === null) return undefined;
    const exact = byView.get(view as Uint8Array);
    if (exact !== undefined) return { m: exact, at: 0 };
    if (!types.isUint8Array(view)) return undefined;
    const m = byBuffer.get(bufferOf(view));
    if (m === undefined) return undefined;
    // A view of freed memory is stale whatever its offset (it may be detached, Node 22+).
    if (!m.live) return { m, at: 0 };
    const own = hostBytes(view);
    return typeof own === 'string' ? undefined : { m, at: own.byteOffset - m.view.byteOffset };
  }

  /** The mapping `mem` refers to and where in it `mem` starts, or the code of the failure. */
  function resolve(fn: string, mem: MemSnapshot): Target | HbSysFailureCode {
    const view = mem.virAddr;
    if (view === null || view === undefined) return failNoMapping(fn);
    const t = locate(view);
    if (t === undefined) return failForeignMapping(fn);
    const { m, at } = t;
    if (!m.live) return failStale(fn, m.phyAddr, m.kind === 'registration');
    if (at < 0 || at >= m.size) {
      return fail(HB_SYS_INVALID_ARGUMENT, fn, `mem.${subRangeOutsideText(m.phyAddr, m.size)}`);
    }
    if (mem.phyAddr !== m.phyAddr + BigInt(at)) {
      return at === 0
        ? failMovedPhyAddr(fn, mem.phyAddr, m.phyAddr)
        : fail(
            HB_SYS_INVALID_ARGUMENT,
            fn,
            `mem.${subRangePhyAddrText(mem.phyAddr, m.phyAddr, at)}`,
          );
    }
    return t;
  }

  /**
   * `mem.memSize` if it is a valid byte count from where `mem` starts in its mapping, else -1
   * (with the failure recorded).
   */
  function validBytes(fn: string, mem: MemSnapshot, t: Target): number {
    const n = mem.memSize;
    const room = t.m.size - t.at;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > room) {
      if (t.at === 0) failMemSize(fn, room, n);
      else
        fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `mem.${subRangeSizeText(t.m.phyAddr, t.m.size, t.at, n)}`,
        );
      return -1;
    }
    return n;
  }

  /** A crop's own struct for C (each call fills it anew); the mapping's own struct reused. */
  let cropStruct: StructFields | undefined;

  /**
   * The native hbSysMem of `n` bytes from `t`: the mapping's own struct for a mem that starts
   * at the mapping, else a struct of the crop (its address and pointer `at` bytes in), as a
   * C program would pass for a crop.
   */
  function structOf(t: Target, n: number): StructFields {
    if (t.at === 0) {
      t.m.struct.u32[MEM_SIZE] = n;
      return t.m.struct;
    }
    cropStruct ??= lib.allocStruct();
    cropStruct.u64[PHY_ADDR] = t.m.phyAddr + BigInt(t.at);
    cropStruct.u64[VIR_ADDR] = t.m.struct.u64[VIR_ADDR]! + BigInt(t.at);
    cropStruct.u32[MEM_SIZE] = n;
    return cropStruct;
  }

  /**
   * Host bytes that C may touch: refused if they are a view of freed memory (C would read
   * or write memory that is no longer mapped), copied first if they are a view of memory
   * that overlaps the target (memcpy of overlapping ranges is undefined). Else as given.
   */
  function hostSide(fn: string, name: string, bytes: Uint8Array, size: number, target: Target) {
    if (bytesLeft(bytes) < size) return failShrunk(fn, name, size, bytesLeft(bytes));
    const owner = byBuffer.get(bufferOf(bytes));
    if (owner === undefined) return bytes;
    if (!owner.live) {
      return fail(
        HB_SYS_INVALID_ARGUMENT,
        fn,
        `${name} is a view of BPU memory at 0x${hex(owner.phyAddr)} that was freed or ` +
          'unregistered: do not keep views of memory past its free',
      );
    }
    const start = owner.phyAddr + BigInt(bytes.byteOffset - owner.view.byteOffset);
    const to = target.m.phyAddr + BigInt(target.at);
    const overlaps = start < to + BigInt(size) && to < start + BigInt(size);
    return overlaps ? bytes.slice(0, size) : bytes;
  }

  /** What libdnn said, for a failure it returned. */
  function failed(fn: string, code: number, what: string, hint: string): HbSysFailureCode {
    const status = hbSysGetErrorDesc(code);
    return fail(code, fn, `libdnn (${lib.path}) refused to ${what}: ${status}; ${hint}`);
  }

  /** Ends a mapping on the JS side: no view of it is handed out, or works, again. */
  function retire(m: Mapping): void {
    m.live = false;
    registrations.delete(m);
    lib.freeStruct(m.struct);
    if (canDetach) (m.view.buffer as Transferable).transfer!(0);
  }

  function map(
    fn: string,
    kind: Mapping['kind'],
    struct: StructFields,
    size: number,
    cached: boolean,
    label: string | undefined,
  ): Mapping | undefined {
    const address = struct.u64[VIR_ADDR]!;
    if (address === 0n) {
      fail(HB_SYS_INVALID_ARGUMENT, fn, `libdnn (${lib.path}) returned success but no mapping`);
      return undefined;
    }
    const buffer = lib.mapping(address, size);
    const view = new Uint8Array(buffer);
    const m: Mapping = {
      kind,
      phyAddr: struct.u64[PHY_ADDR]!,
      size,
      cached,
      label,
      struct,
      view,
      live: true,
    };
    byView.set(view, m);
    byBuffer.set(buffer, m);
    return m;
  }

  let dnn: DnnBackend | undefined;
  const backend: NativeBackend = {
    name: 'native',
    libraryPath: lib.path,
    detachesStaleViews: canDetach,
    ledger,

    allocMem(mem, size, cached, label) {
      const fn = cached ? 'hbSysAllocCachedMem' : 'hbSysAllocMem';
      const struct = lib.allocStruct();
      const code = (cached ? lib.hbSysAllocCachedMem : lib.hbSysAllocMem)(struct.pointer, size);
      if (code !== HB_SYS_SUCCESS) {
        lib.freeStruct(struct);
        return failed(
          fn,
          code,
          `allocate ${size} bytes`,
          code === HB_SYS_OUT_OF_MEMORY
            ? 'free memory you no longer need (is an allocation leaking in a loop?)'
            : 'check the size',
        );
      }
      const m = map(fn, 'allocation', struct, size, cached, label);
      if (m === undefined) {
        lib.hbSysFreeMem(struct.pointer);
        lib.freeStruct(struct);
        return HB_SYS_INVALID_ARGUMENT;
      }
      const filled = writeFields(mem, (out) => {
        out.phyAddr = m.phyAddr;
        out.virAddr = m.view;
        out.memSize = size;
      });
      if (typeof filled === 'string') {
        // The caller cannot hold the allocation: give it back, or it leaks in C.
        m.struct.u32[MEM_SIZE] = size;
        lib.hbSysFreeMem(m.struct.pointer);
        retire(m);
        return failUnfillable(fn, filled, 'nothing was allocated');
      }
      ledger.opened(m, 'allocation', m.phyAddr, size, cached, label);
      return HB_SYS_SUCCESS;
    },

    flushMem(mem, flag: HbSysFlushFlag) {
      const fn = 'hbSysFlushMem';
      const t = resolve(fn, mem);
      if (typeof t === 'number') return t;
      const n = validBytes(fn, mem, t);
      if (n < 0) return HB_SYS_INVALID_ARGUMENT;
      const started = performance.now();
      // A crop flushes its own range: C gets its pointer and size, as a C program passes them.
      const code = lib.hbSysFlushMem(structOf(t, n).pointer, flag);
      const clean = flag === HB_SYS_MEM_CACHE_CLEAN;
      if (code === HB_SYS_SUCCESS) {
        ledger.flushed(t.m, clean ? 'clean' : 'invalidate', n, started, t.at);
        return code;
      }
      const op = clean ? 'CLEAN' : 'INVALIDATE';
      const at = t.m.phyAddr + BigInt(t.at);
      return failed(fn, code, `${op} 0x${hex(at)}`, 'check mem.memSize');
    },

    freeMem(mem) {
      const fn = 'hbSysFreeMem';
      const t = resolve(fn, mem);
      if (typeof t === 'number') return t;
      const { m } = t;
      if (mem.virAddr !== m.view) {
        return failSubRange(fn, m.phyAddr, t.at, 'freed: free the hbSysMem the alloc call filled');
      }
      if (m.kind === 'registration') {
        return fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `0x${hex(m.phyAddr)} is a registration, not an allocation: end it with ` +
            'hbSysUnregisterMem; its owner frees the memory',
        );
      }
      const end = m.phyAddr + BigInt(m.size);
      const inside = [...registrations].filter((r) => r.phyAddr >= m.phyAddr && r.phyAddr < end);
      if (inside.length > 0) {
        const r = inside[0]!;
        return fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `${inside.length} registration(s) inside 0x${hex(m.phyAddr)} are still live ` +
            `(the first at 0x${hex(r.phyAddr)}, ${r.size} bytes): hbSysUnregisterMem them first`,
        );
      }
      const held = dnn?.memoryHeldBy?.(m.phyAddr, m.size);
      if (held !== undefined)
        return fail(HB_SYS_INVALID_ARGUMENT, fn, `${held}; nothing was freed`);
      // virAddr is cleared first: if the caller's object refuses, nothing has been freed.
      const restore = clearVirAddr(mem.source, mem.virAddrField);
      if (typeof restore === 'string') return failUnfillable(fn, restore, 'nothing was freed');
      // The whole allocation goes back, whatever the caller lowered memSize to.
      m.struct.u32[MEM_SIZE] = m.size;
      const code = lib.hbSysFreeMem(m.struct.pointer);
      if (code !== HB_SYS_SUCCESS) {
        restore.restore();
        return failed(fn, code, `free 0x${hex(m.phyAddr)}`, 'the memory is still allocated');
      }
      ledger.closed(m);
      retire(m);
      return HB_SYS_SUCCESS;
    },

    writeMem(dest, src, size) {
      const fn = 'hbSysWriteMem';
      const t = resolve(fn, dest);
      if (typeof t === 'number') return t;
      const length = validBytes(fn, dest, t);
      if (length < 0) return HB_SYS_INVALID_ARGUMENT;
      if (size > length) return tooLarge(fn, size, length);
      const bytes = hostSide(fn, 'src', src, size, t);
      if (typeof bytes === 'number') return bytes;
      // C copies `size` bytes from `bytes`: hbsys's own fixed view, checked just above.
      const code = lib.hbSysWriteMem(structOf(t, length).pointer, bytes, size);
      if (code === HB_SYS_SUCCESS) return code;
      const to = t.m.phyAddr + BigInt(t.at);
      return failed(fn, code, `write ${size} bytes to 0x${hex(to)}`, 'check the sizes');
    },

    readMem(dest, src, size) {
      const fn = 'hbSysReadMem';
      const t = resolve(fn, src);
      if (typeof t === 'number') return t;
      const length = validBytes(fn, src, t);
      if (length < 0) return HB_SYS_INVALID_ARGUMENT;
      if (size > length) return tooLarge(fn, size, length);
      const bytes = hostSide(fn, 'dest', dest, size, t);
      if (typeof bytes === 'number') return bytes;
      const code = lib.hbSysReadMem(bytes, structOf(t, length).pointer, size);
      if (code !== HB_SYS_SUCCESS) {
        const from = t.m.phyAddr + BigInt(t.at);
        return failed(fn, code, `read ${size} bytes from 0x${hex(from)}`, 'check the sizes');
      }
      if (bytes !== dest) dest.set(bytes.subarray(0, size));
      return HB_SYS_SUCCESS;
    },

    registerMem(mem: RegisterRequest) {
      const fn = 'hbSysRegisterMem';
      const { phyAddr, memSize } = mem;
      const struct = lib.allocStruct();
      struct.u64[PHY_ADDR] = phyAddr;
      struct.u32[MEM_SIZE] = memSize;
      const code = lib.hbSysRegisterMem(struct.pointer);
      const range = `[0x${hex(phyAddr)}, 0x${hex(phyAddr + BigInt(memSize))})`;
      if (code !== HB_SYS_SUCCESS) {
        lib.freeStruct(struct);
        return failed(
          fn,
          code,
          `register ${range}`,
          code === HB_SYS_REGISTER_MEM_FAILED
            ? 'register memory the system knows (a camera, codec or BPU buffer), and each range once'
            : 'check phyAddr and memSize',
        );
      }
      const m = map(fn, 'registration', struct, memSize, true, mem.label);
      if (m === undefined) {
        lib.hbSysUnregisterMem(struct.pointer);
        lib.freeStruct(struct);
        return HB_SYS_REGISTER_MEM_FAILED;
      }
      const filled = writeFields(
        mem.source,
        (out) => {
          out.virAddr = m.view;
        },
        false,
      );
      if (typeof filled === 'string') {
        // The caller cannot hold the registration: end it, or it outlives every handle.
        lib.hbSysUnregisterMem(m.struct.pointer);
        retire(m);
        return failUnfillable(fn, filled, 'nothing was registered');
      }
      registrations.add(m);
      ledger.opened(m, 'registration', m.phyAddr, memSize, true, m.label);
      return HB_SYS_SUCCESS;
    },

    unregisterMem(mem) {
      const fn = 'hbSysUnregisterMem';
      const t = resolve(fn, mem);
      if (typeof t === 'number') return t;
      const { m } = t;
      if (mem.virAddr !== m.view) {
        return failSubRange(
          fn,
          m.phyAddr,
          t.at,
          'unregistered: pass the hbSysMem hbSysRegisterMem filled',
        );
      }
      if (m.kind !== 'registration') {
        return fail(
          HB_SYS_INVALID_ARGUMENT,
          fn,
          `0x${hex(m.phyAddr)} is an allocation, not a registration: free it with hbSysFreeMem`,
        );
      }
      const held = dnn?.memoryHeldBy?.(m.phyAddr, m.size);
      if (held !== undefined) {
        return fail(HB_SYS_INVALID_ARGUMENT, fn, `${held}; nothing was unregistered`);
      }
      const restore = clearVirAddr(mem.source, mem.virAddrField);
      if (typeof restore === 'string') {
        return failUnfillable(fn, restore, 'nothing was unregistered');
      }
      m.struct.u32[MEM_SIZE] = m.size;
      const code = lib.hbSysUnregisterMem(m.struct.pointer);
      if (code !== HB_SYS_SUCCESS) {
        restore.restore();
        return failed(fn, code, `unregister 0x${hex(m.phyAddr)}`, 'it is still registered');
      }
      ledger.closed(m);
      retire(m);
      return HB_SYS_SUCCESS;
    },

    isCached(mem) {
      const t = locate(mem.virAddr);
      if (t === undefined || !t.m.live || t.at < 0 || t.at >= t.m.size) return undefined;
      return mem.phyAddr === t.m.phyAddr + BigInt(t.at) ? t.m.cached : undefined;
    },

    nativeMappingOf(mem) {
      const { virAddr: view, phyAddr, memSize } = mem;
      if (view === null || view === undefined) {
        return {
          problem:
            'virAddr is null: this hbSysMem was freed or unregistered, or never filled by an ' +
            'alloc or register call',
        };
      }
      const t = locate(view);
      if (t === undefined) {
        return {
          problem:
            'virAddr is not a mapping made by hbSysAllocMem, hbSysAllocCachedMem or ' +
            'hbSysRegisterMem: pass the hbSysMem those calls filled',
        };
      }
      const { m, at } = t;
      if (!m.live) {
        const what = m.kind === 'registration' ? 'unregistered' : 'freed';
        return { problem: `the memory at 0x${hex(m.phyAddr)} was ${what}: use live memory` };
      }
      if (at < 0 || at >= m.size) return { problem: subRangeOutsideText(m.phyAddr, m.size) };
      const start = m.phyAddr + BigInt(at);
      if (phyAddr !== start) {
        return {
          problem:
            at === 0
              ? `phyAddr (${String(phyAddr)}) does not match its mapping at 0x${hex(m.phyAddr)}`
              : subRangePhyAddrText(phyAddr, m.phyAddr, at),
        };
      }
      const room = m.size - at;
      if (
        typeof memSize !== 'number' ||
        !Number.isInteger(memSize) ||
        memSize < 1 ||
        memSize > room
      ) {
        return {
          problem:
            at === 0
              ? `memSize must be an integer in 1 … ${m.size} (the size of the memory), got ${String(memSize)}`
              : subRangeSizeText(m.phyAddr, m.size, at, memSize),
        };
      }
      // A crop's tensor points where the crop starts, as C code sets virAddr for one.
      const virAddr = m.struct.u64[VIR_ADDR]! + BigInt(at);
      return { phyAddr: start, virAddr, memSize, size: room };
    },

    dnn() {
      dnn ??= createNativeDnnBackend(lib, backend);
      return dnn;
    },
  };
  return backend;
}

let loaded: NativeBackend | undefined;

/**
 * The native backend over the libdnn.so found from `HBSYS_LIBDNN` or the default paths,
 * loaded once. Throws an HbSysError listing the paths tried when none loads.
 */
export function nativeBackend(): NativeBackend {
  loaded ??= createNativeBackend(loadLibdnn());
  return loaded;
}

/**
 * The libdnn.so the native backend loaded, or undefined while it is not loaded.
 *
 * @example
 * ```ts
 * useBackend('native');
 * console.log(nativeLibraryPath());   // '/usr/hobot/lib/libdnn.so' on an RDK X5
 * ```
 */
export function nativeLibraryPath(): string | undefined {
  return loaded?.libraryPath;
}

function tooLarge(fn: string, size: number, length: number): HbSysFailureCode {
  return fail(
    HB_SYS_INVALID_ARGUMENT,
    fn,
    `size ${size} is larger than mem.memSize (${length}): copy at most memSize bytes`,
  );
}
