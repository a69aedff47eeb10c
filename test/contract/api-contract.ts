/**
 * The API contract that every backend satisfies: the eight functions and the idiomatic
 * buffer, as the README specifies them, with the same status codes. One suite, run against
 * each backend by a test file that describes how to set the backend up.
 *
 * It asserts only what holds on any backend (the emulator, the native backend over the C
 * stand-in, the board): no cache model, no addresses beyond their consistency.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  allocate,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  HbSysError,
  type HbSysFlushFlag,
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
  register,
} from '../../src/index.js';

/** Memory someone else owns, with a known physical address (a camera or codec buffer). */
export interface ExternalBuffer {
  readonly phyAddr: bigint;
  readonly size: number;
  free(): void;
}

/** How to run the contract on one backend. */
export interface ContractBackend {
  /** Shown in the suite's name. */
  readonly name: string;
  /** Selects the backend and gives it a clean state; runs once before the suite. */
  setup(): void | Promise<void>;
  /** Externally owned memory to register. */
  externalBuffer(size: number): ExternalBuffer;
}

type Alloc = (mem: hbSysMem, size: number) => number;

const allocators: ReadonlyArray<[string, Alloc]> = [
  ['hbSysAllocMem', hbSysAllocMem],
  ['hbSysAllocCachedMem', hbSysAllocCachedMem],
];

const empty = (): hbSysMem => ({ phyAddr: 0n, virAddr: null, memSize: 0 });

/** A live allocation of `size` bytes, asserted to succeed. */
function alloc(size: number, fn: Alloc = hbSysAllocCachedMem): hbSysMem {
  const mem = empty();
  assert.equal(fn(mem, size), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
  return mem;
}

function free(mem: hbSysMem): void {
  assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
}

function pattern(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Asserts that `code` is `expected` and that the last error names `fn`. */
function assertFails(code: number, expected: number, fn: string): void {
  assert.equal(code, expected);
  const last = hbSysGetLastError();
  assert.equal(last?.code, expected);
  assert.equal(last?.fn, fn);
  assert.ok((last?.message.length ?? 0) > 10, 'the failure says what was wrong');
}

/** Registers the API contract tests for `backend`. */
export function apiContract(backend: ContractBackend): void {
  describe(`API contract on the ${backend.name} backend`, () => {
    before(() => backend.setup());

    describe('alloc', () => {
      for (const [name, fn] of allocators) {
        test(`${name} fills phyAddr, virAddr and memSize`, () => {
          const mem = empty();
          assert.equal(fn(mem, 4096 + 17), HB_SYS_SUCCESS);
          assert.equal(typeof mem.phyAddr, 'bigint');
          assert.ok(mem.phyAddr > 0n);
          assert.ok(mem.virAddr instanceof Uint8Array);
          assert.equal(mem.virAddr.byteLength, 4096 + 17);
          assert.equal(mem.memSize, 4096 + 17);
          free(mem);
        });
      }

      test('live allocations never overlap, physically or in their mappings', () => {
        const mems = [1, 4096, 5000, 100, 65536].map((size) => alloc(size));
        const ranges = mems.map((m) => [m.phyAddr, m.phyAddr + BigInt(m.memSize)] as const);
        for (let i = 0; i < ranges.length; i++) {
          for (let j = i + 1; j < ranges.length; j++) {
            const [a0, a1] = ranges[i]!;
            const [b0, b1] = ranges[j]!;
            assert.ok(a1 <= b0 || b1 <= a0, `allocations ${i} and ${j} overlap`);
          }
        }
        for (const [i, m] of mems.entries()) m.virAddr!.fill(i + 1);
        for (const [i, m] of mems.entries()) assert.ok(m.virAddr!.every((b) => b === i + 1));
        for (const m of mems) free(m);
      });

      test('a size outside 1 … 2^32-1 is INVALID_ARGUMENT and leaves mem as it was', () => {
        for (const size of [0, -1, 1.5, 2 ** 32, Number.NaN, Infinity, '4096', 4096n, null]) {
          for (const [name, fn] of allocators) {
            const mem = empty();
            assertFails(fn(mem, size as number), HB_SYS_INVALID_ARGUMENT, name);
            assert.deepEqual(mem, empty());
          }
        }
      });

      test('mem must be an object whose fields can be set', () => {
        for (const mem of [
          null,
          undefined,
          42,
          'mem',
          Object.freeze(empty()),
          new Uint8Array(24),
        ]) {
          assertFails(hbSysAllocMem(mem as hbSysMem, 64), HB_SYS_INVALID_ARGUMENT, 'hbSysAllocMem');
        }
      });

      test('more than the heap holds is OUT_OF_MEMORY and leaves mem as it was', () => {
        const mem = empty();
        assertFails(hbSysAllocMem(mem, 0xffff_ffff), HB_SYS_OUT_OF_MEMORY, 'hbSysAllocMem');
        assert.deepEqual(mem, empty());
      });
    });

    describe('write and read', () => {
      for (const [name, fn] of allocators) {
        test(`round trip through memory from ${name}`, () => {
          const mem = alloc(10_000, fn);
          const data = pattern(10_000);
          assert.equal(hbSysWriteMem(mem, data, data.byteLength), HB_SYS_SUCCESS);
          assert.deepEqual(
            new Uint8Array(mem.virAddr!),
            data,
            'the mapping shows what was written',
          );
          const back = new Uint8Array(10_000);
          assert.equal(hbSysReadMem(back, mem, back.byteLength), HB_SYS_SUCCESS);
          assert.deepEqual(back, data);
          free(mem);
        });
      }

      test('copies exactly size bytes, from the start', () => {
        const mem = alloc(64);
        assert.equal(hbSysWriteMem(mem, new Uint8Array(64).fill(1), 64), HB_SYS_SUCCESS);
        assert.equal(hbSysWriteMem(mem, new Uint8Array(64).fill(9), 10), HB_SYS_SUCCESS);
        assert.deepEqual([...mem.virAddr!.subarray(0, 12)], [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 1]);
        const back = new Uint8Array(16).fill(0xee);
        assert.equal(hbSysReadMem(back, mem, 11), HB_SYS_SUCCESS);
        assert.deepEqual([...back.subarray(9, 13)], [9, 1, 0xee, 0xee]);
        free(mem);
      });

      test('accepts any host bytes: typed arrays, DataView, ArrayBuffer, subarrays', () => {
        const mem = alloc(16);
        const words = new Uint32Array([0x04030201, 0x08070605]);
        assert.equal(hbSysWriteMem(mem, words, 8), HB_SYS_SUCCESS);
        assert.deepEqual([...mem.virAddr!.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
        const big = pattern(100);
        assert.equal(hbSysWriteMem(mem, big.subarray(50, 66), 16), HB_SYS_SUCCESS);
        assert.deepEqual(new Uint8Array(mem.virAddr!), big.subarray(50, 66));
        const ab = new ArrayBuffer(16);
        assert.equal(hbSysReadMem(ab, mem, 16), HB_SYS_SUCCESS);
        assert.deepEqual(new Uint8Array(ab), big.subarray(50, 66));
        const dv = new DataView(new ArrayBuffer(20), 4, 16);
        assert.equal(hbSysReadMem(dv, mem, 16), HB_SYS_SUCCESS);
        assert.equal(dv.getUint8(0), big[50]);
        free(mem);
      });

      test('size beyond memSize or the host bytes is INVALID_ARGUMENT', () => {
        const mem = alloc(32);
        const host = new Uint8Array(64);
        for (const size of [0, -1, 33, 1.5, Number.NaN, '8']) {
          assertFails(
            hbSysWriteMem(mem, host, size as number),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysWriteMem',
          );
          assertFails(
            hbSysReadMem(host, mem, size as number),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysReadMem',
          );
        }
        const small = new Uint8Array(8);
        assertFails(hbSysWriteMem(mem, small, 9), HB_SYS_INVALID_ARGUMENT, 'hbSysWriteMem');
        assertFails(hbSysReadMem(small, mem, 9), HB_SYS_INVALID_ARGUMENT, 'hbSysReadMem');
        for (const bytes of [null, [1, 2, 3], 'abc', 7]) {
          assertFails(
            hbSysWriteMem(mem, bytes as unknown as Uint8Array, 1),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysWriteMem',
          );
          assertFails(
            hbSysReadMem(bytes as unknown as Uint8Array, mem, 1),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysReadMem',
          );
        }
        free(mem);
      });

      test('a lowered memSize bounds the copies; a raised or broken one is refused', () => {
        const mem = alloc(100);
        const host = new Uint8Array(100);
        mem.memSize = 10;
        assert.equal(hbSysWriteMem(mem, host, 10), HB_SYS_SUCCESS);
        assertFails(hbSysWriteMem(mem, host, 11), HB_SYS_INVALID_ARGUMENT, 'hbSysWriteMem');
        assertFails(hbSysReadMem(host, mem, 11), HB_SYS_INVALID_ARGUMENT, 'hbSysReadMem');
        for (const memSize of [0, 101, -1, 2.5]) {
          mem.memSize = memSize;
          assertFails(hbSysWriteMem(mem, host, 1), HB_SYS_INVALID_ARGUMENT, 'hbSysWriteMem');
          assertFails(
            hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysFlushMem',
          );
        }
        mem.memSize = 100;
        free(mem);
      });

      test('a source that is a view of the destination itself copies as memmove does', () => {
        const mem = alloc(64);
        mem.virAddr!.set(pattern(64));
        const expected = pattern(64).subarray(8, 40).slice();
        assert.equal(hbSysWriteMem(mem, mem.virAddr!.subarray(8, 40), 32), HB_SYS_SUCCESS);
        assert.deepEqual(new Uint8Array(mem.virAddr!.subarray(0, 32)), expected);
        free(mem);
      });
    });

    describe('flush', () => {
      for (const [name, fn] of allocators) {
        test(`CLEAN and INVALIDATE succeed on memory from ${name}`, () => {
          const mem = alloc(4096, fn);
          assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
          assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
          mem.memSize = 1;
          assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
          mem.memSize = 4096;
          free(mem);
        });
      }

      test('what the CPU wrote and CLEANed survives INVALIDATE', () => {
        const mem = alloc(5000);
        const data = pattern(5000, 3);
        mem.virAddr!.set(data);
        assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
        assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
        assert.deepEqual(new Uint8Array(mem.virAddr!), data);
        free(mem);
      });

      test('a flag other than 1 or 2 is INVALID_ARGUMENT', () => {
        const mem = alloc(64);
        for (const flag of [0, 3, -1, 1.5, '2', null, 2n]) {
          assertFails(
            hbSysFlushMem(mem, flag as HbSysFlushFlag),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysFlushMem',
          );
        }
        free(mem);
      });
    });

    describe('free and stale handles', () => {
      test('free sets virAddr to null; a second free is INVALID_ARGUMENT', () => {
        const mem = alloc(128);
        free(mem);
        assert.equal(mem.virAddr, null);
        assertFails(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
      });

      test('a copy of a freed hbSysMem is refused by every function', () => {
        const mem = alloc(128);
        const copy = { ...mem };
        free(mem);
        const host = new Uint8Array(128);
        assertFails(hbSysFreeMem(copy), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        assertFails(hbSysWriteMem(copy, host, 1), HB_SYS_INVALID_ARGUMENT, 'hbSysWriteMem');
        assertFails(hbSysReadMem(host, copy, 1), HB_SYS_INVALID_ARGUMENT, 'hbSysReadMem');
        assertFails(
          hbSysFlushMem(copy, HB_SYS_MEM_CACHE_CLEAN),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysFlushMem',
        );
        assertFails(hbSysUnregisterMem(copy), HB_SYS_INVALID_ARGUMENT, 'hbSysUnregisterMem');
      });

      test('a stale copy cannot reach whoever got the memory next', () => {
        const first = alloc(4096);
        const stale = { ...first };
        free(first);
        const next = alloc(4096);
        next.virAddr!.fill(0x5a);
        assertFails(
          hbSysWriteMem(stale, new Uint8Array(4096), 4096),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysWriteMem',
        );
        assertFails(hbSysFreeMem(stale), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        assert.ok(next.virAddr!.every((b) => b === 0x5a));
        free(next);
      });

      test('handles that were never allocated, or were tampered with, are refused', () => {
        const mem = alloc(64);
        const forged = [
          empty(),
          { phyAddr: mem.phyAddr, virAddr: new Uint8Array(64), memSize: 64 },
          { phyAddr: mem.phyAddr + 4096n, virAddr: mem.virAddr, memSize: 64 },
          { phyAddr: Number(mem.phyAddr), virAddr: mem.virAddr, memSize: 64 },
        ] as hbSysMem[];
        // A view of the mapping other than the one handed out is at most a sub-range mem,
        // which the emulator flushes, reads and writes as the board does: it never frees.
        const view = { phyAddr: mem.phyAddr, virAddr: mem.virAddr!.subarray(0), memSize: 64 };
        assertFails(hbSysFreeMem(view), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        for (const f of forged) {
          assertFails(hbSysFreeMem(f), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
          assertFails(
            hbSysFlushMem(f, HB_SYS_MEM_CACHE_CLEAN),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysFlushMem',
          );
        }
        for (const bad of [null, undefined, 0, 'mem']) {
          assertFails(
            hbSysFreeMem(bad as unknown as hbSysMem),
            HB_SYS_INVALID_ARGUMENT,
            'hbSysFreeMem',
          );
        }
        free(mem);
      });
    });

    describe('register and unregister', () => {
      test('register maps a known range; unregister ends it and frees nothing', () => {
        const ext = backend.externalBuffer(8192);
        const mem: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 8192 };
        assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        assert.equal(mem.phyAddr, ext.phyAddr);
        assert.equal(mem.memSize, 8192);
        assert.ok(mem.virAddr instanceof Uint8Array);
        assert.equal(mem.virAddr.byteLength, 8192);
        const data = pattern(8192, 5);
        assert.equal(hbSysWriteMem(mem, data, 8192), HB_SYS_SUCCESS);
        assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
        assert.equal(hbSysUnregisterMem(mem), HB_SYS_SUCCESS);
        assert.equal(mem.virAddr, null);
        assertFails(hbSysUnregisterMem(mem), HB_SYS_INVALID_ARGUMENT, 'hbSysUnregisterMem');
        // Registered again, it shows the same memory: unregister did not free it.
        const again: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 8192 };
        assert.equal(hbSysRegisterMem(again), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        assert.equal(hbSysFlushMem(again, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
        assert.deepEqual(new Uint8Array(again.virAddr!), data);
        assert.equal(hbSysUnregisterMem(again), HB_SYS_SUCCESS);
        ext.free();
      });

      test('a range registered twice, or overlapping a registration, is REGISTER_MEM_FAILED', () => {
        const ext = backend.externalBuffer(8192);
        const mem: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 4096 };
        assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS);
        for (const [offset, size] of [
          [0n, 4096],
          [100n, 10],
          [4000n, 200],
        ] as const) {
          const other: hbSysMem = { phyAddr: ext.phyAddr + offset, virAddr: null, memSize: size };
          assertFails(hbSysRegisterMem(other), HB_SYS_REGISTER_MEM_FAILED, 'hbSysRegisterMem');
          assert.equal(other.virAddr, null);
        }
        const beside: hbSysMem = { phyAddr: ext.phyAddr + 4096n, virAddr: null, memSize: 4096 };
        assert.equal(hbSysRegisterMem(beside), HB_SYS_SUCCESS);
        assert.equal(hbSysUnregisterMem(beside), HB_SYS_SUCCESS);
        assert.equal(hbSysUnregisterMem(mem), HB_SYS_SUCCESS);
        ext.free();
      });

      test('a range the system does not know is REGISTER_MEM_FAILED', () => {
        const ext = backend.externalBuffer(4096);
        const beyond: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 4096 * 64 };
        assertFails(hbSysRegisterMem(beyond), HB_SYS_REGISTER_MEM_FAILED, 'hbSysRegisterMem');
        const nowhere: hbSysMem = { phyAddr: 0x7fff_0000_0000n, virAddr: null, memSize: 4096 };
        assertFails(hbSysRegisterMem(nowhere), HB_SYS_REGISTER_MEM_FAILED, 'hbSysRegisterMem');
        ext.free();
      });

      test('bad phyAddr or memSize is INVALID_ARGUMENT', () => {
        for (const [phyAddr, memSize] of [
          [0x1000, 4096],
          [-1n, 4096],
          [2n ** 64n, 4096],
          [0x1000n, 0],
          [0x1000n, 2 ** 32],
          [0x1000n, '4096'],
        ]) {
          const mem = { phyAddr, virAddr: null, memSize } as unknown as hbSysMem;
          assertFails(hbSysRegisterMem(mem), HB_SYS_INVALID_ARGUMENT, 'hbSysRegisterMem');
        }
      });

      test('part of a live allocation can be registered; it shows the same memory', () => {
        const mem = alloc(16384, hbSysAllocMem);
        const data = pattern(16384, 9);
        assert.equal(hbSysWriteMem(mem, data, 16384), HB_SYS_SUCCESS);
        const part: hbSysMem = { phyAddr: mem.phyAddr + 4096n, virAddr: null, memSize: 100 };
        assert.equal(hbSysRegisterMem(part), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        assert.equal(hbSysFlushMem(part, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
        assert.deepEqual(new Uint8Array(part.virAddr!), data.subarray(4096, 4196));
        // Registered memory is not the registrar's to free, and the owner cannot free it
        // from under a live registration.
        assertFails(hbSysFreeMem(part), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        assertFails(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        assertFails(hbSysUnregisterMem(mem), HB_SYS_INVALID_ARGUMENT, 'hbSysUnregisterMem');
        assert.equal(hbSysUnregisterMem(part), HB_SYS_SUCCESS);
        free(mem);
      });
    });

    describe('sub-range mems (crops)', () => {
      /** The struct C code builds for `size` bytes of `parent` from `off`. */
      function crop(parent: hbSysMem, off: number, size: number): hbSysMem {
        return {
          phyAddr: parent.phyAddr + BigInt(off),
          virAddr: parent.virAddr!.subarray(off),
          memSize: size,
        };
      }

      for (const [name, fn] of allocators) {
        test(`write, read and flush act on the crop's range of memory from ${name}`, () => {
          const parent = alloc(8192, fn);
          assert.equal(hbSysWriteMem(parent, pattern(8192, 3), 8192), HB_SYS_SUCCESS);
          const c = crop(parent, 4096 + 100, 300);
          const data = pattern(300, 5);
          assert.equal(hbSysWriteMem(c, data, 300), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
          assert.equal(hbSysFlushMem(c, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
          assert.equal(hbSysFlushMem(c, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
          const whole = new Uint8Array(8192);
          assert.equal(hbSysReadMem(whole, parent, 8192), HB_SYS_SUCCESS);
          const want = pattern(8192, 3);
          want.set(data, 4196);
          assert.deepEqual(whole, want, 'the crop wrote its range, and nothing else');
          const back = new Uint8Array(300);
          assert.equal(hbSysReadMem(back, c, 300), HB_SYS_SUCCESS);
          assert.deepEqual(back, data, 'the crop reads from where it starts');
          free(parent);
        });
      }

      test('a crop of a registration is taken too', () => {
        const ext = backend.externalBuffer(8192);
        const reg: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 8192 };
        assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        const c = crop(reg, 512, 1024);
        assert.equal(hbSysWriteMem(c, pattern(1024, 8), 1024), HB_SYS_SUCCESS);
        assert.equal(hbSysFlushMem(c, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
        const back = new Uint8Array(1024);
        assert.equal(hbSysReadMem(back, crop(reg, 512, 1024), 1024), HB_SYS_SUCCESS);
        assert.deepEqual(back, pattern(1024, 8));
        assertFails(hbSysUnregisterMem(c), HB_SYS_INVALID_ARGUMENT, 'hbSysUnregisterMem');
        assert.match(hbSysGetLastError()!.message, /a sub-range mem, which cannot be unregistered/);
        assert.equal(hbSysUnregisterMem(reg), HB_SYS_SUCCESS);
        ext.free();
      });

      test('a crop that leaves its mapping is refused, with how to build one', () => {
        const parent = alloc(4096);
        const message = () => hbSysGetLastError()!.message;
        assertFails(
          hbSysFlushMem(crop(parent, 4000, 200), HB_SYS_MEM_CACHE_CLEAN),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysFlushMem',
        );
        assert.match(
          message(),
          /in 1 … 96: this sub-range starts 4000 bytes .* must end inside it/,
        );
        const moved = { ...crop(parent, 64, 64), phyAddr: parent.phyAddr };
        assertFails(
          hbSysWriteMem(moved, new Uint8Array(4), 4),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysWriteMem',
        );
        assert.match(
          message(),
          /for a sub-range set phyAddr = 0x[0-9a-f]{8} \+ 64 = 0x[0-9a-f]{8}/,
        );
        const past = {
          phyAddr: parent.phyAddr + 4096n,
          virAddr: parent.virAddr!.subarray(4096),
          memSize: 1,
        };
        assertFails(
          hbSysReadMem(new Uint8Array(1), past, 1),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysReadMem',
        );
        assert.match(message(), /starts outside its mapping .* must lie inside the allocation/);
        assertFails(hbSysFreeMem(crop(parent, 64, 64)), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        assert.match(
          message(),
          /64 bytes into the mapping .* a sub-range mem, which cannot be freed/,
        );
        assertFails(hbSysFreeMem(crop(parent, 0, 64)), HB_SYS_INVALID_ARGUMENT, 'hbSysFreeMem');
        free(parent);
      });

      test('a crop of freed memory is stale, even after its address went to a new owner', () => {
        const parent = alloc(4096, hbSysAllocMem);
        const c = crop(parent, 128, 64);
        free(parent);
        const next = alloc(4096, hbSysAllocMem);
        assert.equal(hbSysWriteMem(next, new Uint8Array(4096).fill(0x5a), 4096), HB_SYS_SUCCESS);
        assertFails(
          hbSysWriteMem(c, new Uint8Array([1]), 1),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysWriteMem',
        );
        assertFails(
          hbSysFlushMem(c, HB_SYS_MEM_CACHE_CLEAN),
          HB_SYS_INVALID_ARGUMENT,
          'hbSysFlushMem',
        );
        assert.match(hbSysGetLastError()!.message, /stale hbSysMem/);
        const seen = new Uint8Array(4096);
        assert.equal(hbSysReadMem(seen, next, 4096), HB_SYS_SUCCESS);
        assert.ok(
          seen.every((b) => b === 0x5a),
          "the next owner's memory is untouched",
        );
        free(next);
      });
    });

    describe('the idiomatic buffer', () => {
      test('allocate, write, clean, invalidate, read, free', () => {
        const buf = allocate(4096, { cached: true, label: 'contract' });
        assert.equal(buf.size, 4096);
        assert.equal(buf.cached, true);
        const data = pattern(4096, 2);
        const back = buf.write(data).clean().invalidate().read();
        assert.deepEqual(back, data);
        assert.deepEqual(buf.view(Uint32Array, 4, 2), new Uint32Array(data.buffer.slice(4, 12)));
        buf.free();
        assert.equal(buf.freed, true);
        assert.equal(buf.mem.virAddr, null);
        for (const use of [
          () => buf.bytes,
          () => buf.read(),
          () => buf.write(data),
          () => buf.clean(),
          () => buf.free(),
        ]) {
          assert.throws(
            use,
            (e: unknown) => e instanceof HbSysError && e.code === HB_SYS_INVALID_ARGUMENT,
          );
        }
      });

      test('using frees at the end of the block', () => {
        let mem: hbSysMem;
        {
          using buf = allocate(256);
          mem = buf.mem;
          assert.ok(mem.virAddr instanceof Uint8Array);
        }
        assert.equal(mem.virAddr, null);
      });

      test('allocate throws HbSysError with the status code', () => {
        assert.throws(
          () => allocate(0xffff_ffff),
          (e: unknown) => e instanceof HbSysError && e.code === HB_SYS_OUT_OF_MEMORY,
        );
        assert.throws(
          () => allocate(0),
          (e: unknown) => e instanceof HbSysError && e.code === HB_SYS_INVALID_ARGUMENT,
        );
      });

      test('register a camera buffer; free ends the registration', () => {
        const ext = backend.externalBuffer(4096);
        const buf = register(ext.phyAddr, 4096, { label: 'camera' });
        assert.equal(buf.kind, 'registration');
        assert.equal(buf.cached, true);
        buf.write(pattern(4096)).clean();
        buf.free();
        assert.throws(
          () => register(0x7fff_0000_0000n, 4096),
          (e: unknown) => e instanceof HbSysError && e.code === HB_SYS_REGISTER_MEM_FAILED,
        );
        ext.free();
      });
    });

    describe('properties', () => {
      test('whatever the sizes and order, each live allocation reads back what it was given', () => {
        fc.assert(
          fc.property(
            fc.array(fc.record({ size: fc.integer({ min: 1, max: 20_000 }), freeAt: fc.nat(8) }), {
              minLength: 1,
              maxLength: 12,
            }),
            (plan) => {
              const live: Array<{ mem: hbSysMem; data: Uint8Array; freeAt: number }> = [];
              plan.forEach(({ size, freeAt }, step) => {
                const mem = alloc(size, step % 2 === 0 ? hbSysAllocMem : hbSysAllocCachedMem);
                const data = pattern(size, step);
                assert.equal(hbSysWriteMem(mem, data, size), HB_SYS_SUCCESS);
                live.push({ mem, data, freeAt: step + freeAt });
                for (const entry of live.filter((e) => e.freeAt === step)) {
                  free(entry.mem);
                  live.splice(live.indexOf(entry), 1);
                }
                for (const { mem: m, data: d } of live) {
                  const back = new Uint8Array(d.byteLength);
                  assert.equal(hbSysReadMem(back, m, d.byteLength), HB_SYS_SUCCESS);
                  assert.deepEqual(back, d);
                }
              });
              for (const { mem } of live) free(mem);
            },
          ),
          { numRuns: 40 },
        );
      });
    });

    after(() => {
      // Nothing leaked across the suite: a fresh allocation of the largest size used works.
      const mem = alloc(65536);
      free(mem);
    });
  });
}
