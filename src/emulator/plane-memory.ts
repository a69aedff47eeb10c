/**
 * Planes of physical memory as shared `WebAssembly.Memory`, and the bulk operations on them.
 *
 * A `WebAssembly.Memory` made with `shared: true` has a SharedArrayBuffer as its `buffer`,
 * so a plane is still viewed by Buffers and Uint8Arrays and crosses threads as before; what
 * it adds is WebAssembly's `memory.fill` and `memory.copy`, which run at memset / memmove
 * speed. On a SharedArrayBuffer, `Uint8Array.prototype.fill` is several times slower
 * (about 1.4 µs for 4 KiB here, `Float64Array.fill` 250–330 ns, `memory.fill` 35–45 ns):
 * zeroing is most of what an allocation costs.
 *
 * The module is a few hand-assembled bytes (no toolchain): it imports the memory and
 * exports `fill(dst, value, n)` and `copy(dst, src, n)`, one instance per plane. Addresses
 * are i32: a plane is at most 2 GiB plus a page, and WebAssembly reads them unsigned.
 */

/**
 * A shared `WebAssembly.Memory`, as far as this package uses one (the project's TypeScript
 * libraries declare no WebAssembly: the few members used are declared here).
 */
export interface PlaneMemory {
  readonly buffer: SharedArrayBuffer;
}

/** The engine's WebAssembly, typed for what this module uses. */
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
      Memory: new (d: { initial: number; maximum: number; shared: true }) => PlaneMemory;
    };
  }
).WebAssembly;

/** The WebAssembly page, the unit of a memory's size. */
export const WASM_PAGE = 65536;

/**
 * ```wat
 * (module
 *   (import "m" "mem" (memory 0 65536 shared))
 *   (func (export "fill") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
 *   (func (export "copy") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy))
 * ```
 */
// biome-ignore format: the module's bytes, one section a line
const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type 0: (i32 i32 i32) -> ()
  0x02, 0x0d, 0x01, 0x01, 0x6d, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x03, 0x00, 0x80, 0x80, 0x04, // import m.mem: shared memory, 0 … 65536 pages
  0x03, 0x03, 0x02, 0x00, 0x00, // two functions of type 0
  0x07, 0x0f, 0x02, 0x04, 0x66, 0x69, 0x6c, 0x6c, 0x00, 0x00, 0x04, 0x63, 0x6f, 0x70, 0x79, 0x00, 0x01, // export fill, copy
  0x0a, 0x1a, 0x02,
  0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0b, 0x00, 0x0b, // fill: memory.fill
  0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b, // copy: memory.copy
]);

let compiled: object | undefined;

/** The bulk operations of one plane, in bytes from the start of its buffer. */
export interface PlaneOps {
  /** Sets `n` bytes from `dst` to `value` (a byte). */
  readonly fill: (dst: number, value: number, n: number) => void;
  /** Copies `n` bytes from `src` to `dst` (overlapping ranges are fine, as memmove). */
  readonly copy: (dst: number, src: number, n: number) => void;
}

/** The bulk operations of `memory` (a shared WebAssembly.Memory), made once per thread. */
export function planeOps(memory: PlaneMemory): PlaneOps {
  compiled ??= new Wasm.Module(MODULE_BYTES);
  const { exports } = new Wasm.Instance(compiled, { m: { mem: memory } });
  return exports as unknown as PlaneOps;
}

/**
 * A new zeroed shared memory of at least `bytes` bytes (whole WebAssembly pages; its size
 * is fixed: it never grows).
 */
export function newPlaneMemory(bytes: number): PlaneMemory {
  const pages = Math.ceil(bytes / WASM_PAGE);
  return new Wasm.Memory({ initial: pages, maximum: pages, shared: true });
}
