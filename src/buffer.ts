/**
 * The idiomatic API: a BPU buffer object over an hbSysMem.
 *
 * It knows nothing of the backend beyond the eight functions: every failure becomes an
 * HbSysError carrying the status code, use after free throws, and `using` frees it. Bad
 * input of any kind (a detached or shrunk view, a bigint offset, a type that is not a
 * typed-array class, options whose getters throw) is an HbSysError too, never a TypeError.
 *
 * @example
 * ```ts
 * using input = allocate(224 * 224 * 3, { cached: true, label: 'input' });
 * input.write(pixels).clean();          // CPU writes, then CLEAN before the BPU reads
 * await emulator.bpu.copy(output.phyAddr, input.phyAddr, input.size);
 * output.invalidate().read();           // INVALIDATE before the CPU reads the BPU's output
 * ```
 */

import { types } from 'node:util';
import { currentBackend } from './backend.js';
import { describe } from './describe.js';
import { hex } from './handle-errors.js';
import {
  allocLabelled,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysUnregisterMem,
  registerLabelled,
} from './hbsys.js';
import { hostBytes } from './host-bytes.js';
import {
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  type HostBytes,
  type hbSysMem,
} from './mem.js';
import { errorText, type MemSnapshot, snapshotMem } from './snapshot.js';
import {
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_SUCCESS,
  HbSysError,
  type HbSysStatusCode,
} from './status.js';

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /** CPU access through the cache (then clean/invalidate are needed). Default false. */
  cached?: boolean;
  /** A name shown in stats, dumps, traces and sanitizer findings. */
  label?: string;
}

/**
 * A typed-array class such as Float32Array or Int8Array, for {@link HbSysBuffer.view}.
 *
 * The view it makes of BPU memory is typed over `ArrayBufferLike`, not `ArrayBuffer`: on
 * the emulator the memory is a SharedArrayBuffer (the BPU worker shares it), on the board
 * it is the vendor's mapping. Code that needs an `ArrayBuffer` (a transfer, a
 * `postMessage` that moves it) copies first.
 */
export interface TypedArrayConstructor<T> {
  /** A view of `length` elements of `buffer` from `byteOffset`. */
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  /**
   * Typed-array classes all have one; it makes `T` the view over `ArrayBufferLike` (their
   * constructors alone would say `ArrayBuffer`).
   */
  readonly prototype: T;
  /** The size of one element in bytes. */
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * BPU memory as an object: an allocation or a registration. Made by {@link allocate} or
 * {@link register}; failures throw an {@link HbSysError}; use after free throws.
 *
 * @example
 * ```ts
 * using input = allocate(4096, { cached: true, label: 'input' });   // freed at end of scope
 * input.write(bytes).clean();
 * ```
 */
export class HbSysBuffer implements Disposable {
  /** The hbSysMem behind this buffer, for the C-style functions. */
  readonly mem: hbSysMem;
  /** The physical address, for BPU work. */
  readonly phyAddr: bigint;
  /** Size in bytes, as asked for. */
  readonly size: number;
  /** Whether the CPU reaches it through its cache (then clean() and invalidate() matter). */
  readonly cached: boolean;
  /** The label given to allocate() or register(). */
  readonly label: string | undefined;
  /** How it was made: allocated (freed by free) or registered (unregistered by free). */
  readonly kind: 'allocation' | 'registration';
  #released = false;

  /** @internal Use {@link allocate} or {@link register}. */
  constructor(mem: hbSysMem, kind: HbSysBuffer['kind'], cached: boolean, label?: string) {
    this.mem = mem;
    this.phyAddr = mem.phyAddr;
    this.size = mem.memSize;
    this.kind = kind;
    this.cached = cached;
    this.label = label;
  }

  /** Whether free() (or hbSysFreeMem / hbSysUnregisterMem on `mem`) has run. */
  get freed(): boolean {
    if (this.#released) return true;
    const snap = snapshotMem(this.mem);
    return 'error' in snap ? false : snap.virAddr === null;
  }

  /**
   * The CPU mapping, all `size` bytes. Taking it is not a read: with the sanitizer on, what
   * is read through it is checked as `mem.virAddr` is.
   */
  get bytes(): Uint8Array {
    const { snap, view } = this.mapping('bytes');
    currentBackend().noteCpuRead?.(snap, 0, this.size, 'buffer.bytes');
    return view;
  }

  /**
   * A typed view of the CPU mapping, from `byteOffset` (a multiple of the element size)
   * for `length` elements (default: as many as fit). `type` is one of the typed-array
   * classes (Uint8Array, Float32Array, …). No copy: it is valid until free().
   *
   * @example
   * ```ts
   * const scores = output.invalidate().view(Float32Array);   // Float32Array<ArrayBufferLike>
   * ```
   */
  view<T>(type: TypedArrayConstructor<T>, byteOffset = 0, length?: number): T {
    const { snap, view: v } = this.mapping('view');
    const width = ELEMENT_SIZES.get(type as unknown as TypedArrayClass);
    if (width === undefined) {
      throw this.error(
        `view: type must be a typed-array class such as Uint8Array or Float32Array, got ${describe(type)}`,
      );
    }
    const max = isIndex(byteOffset) ? Math.floor((this.size - byteOffset) / width) : -1;
    const n = length ?? max;
    if (!isIndex(byteOffset) || byteOffset % width !== 0 || !isIndex(n) || n > max || max < 0) {
      throw this.error(
        `view: byteOffset ${describe(byteOffset)} must be a multiple of ${width} and ` +
          `length ${describe(length)} must fit in ${this.size} bytes`,
      );
    }
    currentBackend().noteCpuRead?.(snap, byteOffset, n * width, 'buffer.view');
    return new type(v.buffer, v.byteOffset + byteOffset, n);
  }

  /** Copies `src` into the mapping at `offset`. No flush: call clean() before the BPU reads. */
  write(src: HostBytes, offset = 0): this {
    const { snap, view: v } = this.mapping('write');
    const bytes = hostBytes(src);
    if (typeof bytes === 'string') {
      throw this.error(
        `write: src must be a typed array, DataView or ArrayBuffer, got ${describe(src)}: ${bytes}`,
      );
    }
    if (!isIndex(offset) || offset + bytes.byteLength > this.size) {
      throw this.error(
        `write: ${bytes.byteLength} bytes at offset ${describe(offset)} do not fit in ${this.size} bytes`,
      );
    }
    const backend = currentBackend();
    backend.noteCpuRead?.(snap, offset, bytes.byteLength, 'buffer.write');
    v.set(bytes, offset);
    backend.noteCpuRead?.(snap, offset, bytes.byteLength, 'buffer.wrote');
    return this;
  }

  /**
   * Copies the mapping from `offset` into `dst` (as many bytes as `dst` holds), or into a new
   * Uint8Array of the rest of the buffer. No flush: call invalidate() after the BPU writes.
   */
  read(dst?: HostBytes, offset = 0): Uint8Array {
    const { snap, view: v } = this.mapping('read');
    const out = dst === undefined ? undefined : hostBytes(dst);
    if (typeof out === 'string') {
      throw this.error(
        `read: dst must be a typed array, DataView or ArrayBuffer, got ${describe(dst)}: ${out}`,
      );
    }
    if (!isIndex(offset) || offset > this.size) {
      throw this.error(`read: offset ${describe(offset)} is not in 0 … ${this.size}`);
    }
    const n = out === undefined ? this.size - offset : out.byteLength;
    if (offset + n > this.size) {
      throw this.error(`read: ${n} bytes at offset ${offset} do not fit in ${this.size} bytes`);
    }
    currentBackend().noteCpuRead?.(snap, offset, n, 'buffer.read');
    const target = out ?? new Uint8Array(n);
    target.set(v.subarray(offset, offset + n));
    return target;
  }

  /** CLEAN: after the CPU writes, before the BPU reads. */
  clean(): this {
    this.mapping('clean');
    this.check(hbSysFlushMem(this.mem, HB_SYS_MEM_CACHE_CLEAN), 'hbSysFlushMem');
    return this;
  }

  /** INVALIDATE: after the BPU writes, before the CPU reads. */
  invalidate(): this {
    this.mapping('invalidate');
    this.check(hbSysFlushMem(this.mem, HB_SYS_MEM_CACHE_INVALIDATE), 'hbSysFlushMem');
    return this;
  }

  /** Frees an allocation, or ends a registration. A second call throws. */
  free(): void {
    this.mapping('free');
    if (this.kind === 'allocation') {
      this.check(hbSysFreeMem(this.mem), 'hbSysFreeMem');
    } else {
      this.check(hbSysUnregisterMem(this.mem), 'hbSysUnregisterMem');
    }
    this.#released = true;
  }

  /** Frees the buffer at the end of a `using` block; nothing if it is freed already. */
  [Symbol.dispose](): void {
    if (!this.freed) this.free();
  }

  /** The mapping, through one read of `mem` (which a program can reach and change). */
  private mapping(op: string): { snap: MemSnapshot; view: Uint8Array } {
    const snap = snapshotMem(this.mem);
    if ('error' in snap) {
      throw this.error(
        `${op}: reading this buffer's mem threw (${snap.error}); leave mem as it is`,
      );
    }
    const v = snap.virAddr;
    if (this.#released || v === null || v === undefined) {
      throw this.error(`${op}: this buffer was freed; allocate a new one`);
    }
    if (!types.isUint8Array(v)) {
      throw this.error(`${op}: this buffer's mem.virAddr was replaced; leave mem as it is`);
    }
    return { snap, view: v };
  }

  private check(code: HbSysStatusCode, fn: string): void {
    if (code !== HB_SYS_SUCCESS) throw HbSysError.fromLastFailure(code, fn);
  }

  private error(message: string): HbSysError {
    const name = this.label === undefined ? '' : ` '${this.label}'`;
    return new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `buffer${name} at 0x${hex(this.phyAddr)}: ${message}`,
    );
  }
}

/**
 * Allocates BPU memory. Throws an HbSysError (OUT_OF_MEMORY, INVALID_ARGUMENT) that says
 * why and what to do.
 *
 * @example
 * ```ts
 * using scores = allocate(1000 * 4, { cached: true, label: 'scores' });
 * // … the BPU writes scores.phyAddr …
 * const top = scores.invalidate().view(Float32Array);
 * ```
 */
export function allocate(size: number, options: AllocateOptions = {}): HbSysBuffer {
  const read = readOptions('allocate', options, ['cached', 'label']);
  const cached = read.cached ?? false;
  if (typeof cached !== 'boolean') {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `allocate: cached must be a boolean, got ${describe(cached)}`,
    );
  }
  const label = read.label;
  if (label !== undefined && typeof label !== 'string') {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `allocate: label must be a string, got ${describe(label)}`,
    );
  }
  const mem = { phyAddr: 0n, virAddr: null, memSize: 0 } as hbSysMem;
  const code = allocLabelled(mem, size, cached, label as string | undefined);
  const fn = cached ? 'hbSysAllocCachedMem' : 'hbSysAllocMem';
  if (code !== HB_SYS_SUCCESS) throw HbSysError.fromLastFailure(code, fn);
  return new HbSysBuffer(mem, 'allocation', cached, label as string | undefined);
}

/**
 * Registers `[phyAddr, phyAddr + size)` (a camera or codec buffer, or memory shared by
 * another process) and returns it as a cached buffer; `free()` ends the registration.
 *
 * @example
 * ```ts
 * const camera = emulator.vio.alloc(640 * 480 * 3 / 2);   // on the board: the VIO frame
 * using frame = register(camera.phyAddr, camera.size, { label: 'frame' });
 * const y = frame.invalidate().view(Uint8Array, 0, 640 * 480);
 * ```
 */
export function register(
  phyAddr: bigint,
  size: number,
  options: { label?: string } = {},
): HbSysBuffer {
  const { label } = readOptions('register', options, ['label']);
  if (label !== undefined && typeof label !== 'string') {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `register: label must be a string, got ${describe(label)}`,
    );
  }
  const mem = { phyAddr, virAddr: null, memSize: size } as hbSysMem;
  const code = registerLabelled(mem, label as string | undefined);
  if (code !== HB_SYS_SUCCESS) throw HbSysError.fromLastFailure(code, 'hbSysRegisterMem');
  return new HbSysBuffer(mem, 'registration', true, label);
}

/** Each of `keys` of an options object, read once; an HbSysError if it is none or reading throws. */
function readOptions<K extends string>(
  fn: string,
  options: unknown,
  keys: readonly K[],
): Partial<Record<K, unknown>> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `${fn}: options must be an object, got ${describe(options)}`,
    );
  }
  const read: Partial<Record<K, unknown>> = {};
  try {
    for (const key of keys) read[key] = (options as Record<K, unknown>)[key];
  } catch (error) {
    throw new HbSysError(
      HB_SYS_INVALID_ARGUMENT,
      `${fn}: reading options threw (${errorText(error)}); pass a plain object`,
    );
  }
  return read;
}

function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

type TypedArrayClass = TypedArrayConstructor<unknown>;

/**
 * The typed-array classes `view` accepts, with their element sizes: taken from the classes
 * themselves at load, never from what a caller passes.
 */
const ELEMENT_SIZES: ReadonlyMap<TypedArrayClass, number> = new Map(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    (globalThis as { Float16Array?: TypedArrayClass }).Float16Array,
  ]
    .filter((c): c is TypedArrayClass => c !== undefined)
    .map((c) => [c as TypedArrayClass, c.BYTES_PER_ELEMENT]),
);
