/**
 * Regions for unit tests, over plane memories reused from one region to the next. Each
 * plane is a shared WebAssembly.Memory, for which the engine reserves about 10 GiB of
 * address space; qemu-user (the arm64 leg) backs every reservation with its own page
 * tables, tens of megabytes each, so a property run that makes hundreds of fresh regions
 * exhausts the machine's memory there before the garbage collector frees any. Not a test
 * file.
 *
 * A region made here owns its planes until the next one of the same size is made: use one
 * at a time (each run of a property makes its own, and the last run's is dead by then).
 */

import { Region, type RegionName } from '../../src/emulator/physical-memory.js';
import { newPlaneMemory, type PlaneMemory, WASM_PAGE } from '../../src/emulator/plane-memory.js';

/** The planes made so far, by their size in bytes. */
const planesBySize = new Map<number, PlaneMemory[]>();

/** A fresh region (every plane and side table zeroed), its planes reused. */
export function testRegion(
  name: RegionName,
  base: number,
  size: number,
  pageSize: number,
  strict: boolean,
): Region {
  const taken = new Map<number, number>();
  const source = {
    plane(bytes: number): PlaneMemory {
      const whole = Math.ceil(bytes / WASM_PAGE) * WASM_PAGE;
      const list = planesBySize.get(whole) ?? [];
      planesBySize.set(whole, list);
      const i = taken.get(whole) ?? 0;
      taken.set(whole, i + 1);
      if (i === list.length) list.push(newPlaneMemory(whole));
      const plane = list[i]!;
      new Uint8Array(plane.buffer).fill(0);
      return plane;
    },
    table: (bytes: number) => new SharedArrayBuffer(bytes),
  };
  return new Region(name, base, size, pageSize, strict, source);
}
