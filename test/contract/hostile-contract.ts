/**
 * Hostile callers, case by case, on every backend: getters that change or throw, Proxies,
 * frozen prototypes, setters that refuse, host buffers that shrink or detach during the
 * call, and getters that free the very memory being used. Each function reads every field
 * once, acts on what it read, and a failing call changes nothing (live counts, contents,
 * the caller's object). One suite, run per backend like the API contract.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  allocate,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_SUCCESS,
  HbSysError,
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
import type { ContractBackend } from './api-contract.js';

/** A backend as the hostile suites see it: the contract's, plus what the machine holds. */
export interface HostileBackend extends ContractBackend {
  /** Live allocations and registrations, as the machine (or C) counts them. */
  liveCounts(): { allocations: number; registrations: number };
  /**
   * Whether host bytes that are a view of freed BPU memory are refused. The native backend
   * must (C would touch unmapped memory); on the emulator such a view is harmless.
   */
  readonly refusesStaleViews: boolean;
}

const empty = (): hbSysMem => ({ phyAddr: 0n, virAddr: null, memSize: 0 });

function alloc(size: number, cached = false): hbSysMem {
  const mem = empty();
  const code = (cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size);
  assert.equal(code, HB_SYS_SUCCESS, hbSysGetLastError()?.message);
  return mem;
}

function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 13 + seed) & 0xff);
}

/** A resizable ArrayBuffer (ES2024; in Node 20 and later), typed here for ES2022. */
interface Resizable extends ArrayBuffer {
  resize(length: number): void;
}
export function resizable(length: number): Resizable {
  const Ctor = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
  return new Ctor(length, { maxByteLength: length });
}

/** Detaches `buffer` (structuredClone with transfer works on Node 20 too). */
export function detach(buffer: ArrayBuffer): void {
  structuredClone(buffer, { transfer: [buffer] });
}

/** An hbSysMem whose fields are getters: each returns `first`, then `later`; reads are counted. */
function changing(
  real: hbSysMem,
  later: Partial<Record<keyof hbSysMem, unknown>>,
  onRead: Partial<Record<keyof hbSysMem, () => void>> = {},
) {
  const reads = { phyAddr: 0, virAddr: 0, memSize: 0 };
  const mem = {} as hbSysMem;
  for (const key of ['phyAddr', 'virAddr', 'memSize'] as const) {
    let stored: unknown = real[key];
    Object.defineProperty(mem, key, {
      enumerable: true,
      get() {
        onRead[key]?.();
        return reads[key]++ === 0 || !(key in later) ? stored : later[key];
      },
      set(v: unknown) {
        stored = v;
        reads[key] = 0;
      },
    });
  }
  return { mem, reads };
}

export function hostileContract(backend: HostileBackend): void {
  const counts = () => backend.liveCounts();

  describe(`hostile callers on the ${backend.name} backend`, () => {
    before(() => backend.setup());

    describe('every field is read once, and what was read is what is used', () => {
      test('register: memSize 64, then 2^32+64, registers 64 bytes', () => {
        const ext = backend.externalBuffer(8192);
        const before = counts();
        const { mem, reads } = changing(
          { phyAddr: ext.phyAddr, virAddr: null, memSize: 64 },
          { memSize: 2 ** 32 + 64 },
        );
        assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        assert.equal(reads.memSize, 1, 'memSize was read once');
        assert.equal(reads.phyAddr, 1, 'phyAddr was read once');
        const view = mem.virAddr!;
        assert.equal(view.byteLength, 64, 'the mapping is as long as the memSize validated');
        assert.equal(counts().registrations, before.registrations + 1);
        view.fill(7);
        assert.equal(
          hbSysUnregisterMem({ phyAddr: ext.phyAddr, virAddr: view, memSize: 64 }),
          HB_SYS_SUCCESS,
        );
        ext.free();
      });

      test('register: 0 bytes or 100.5 bytes on the second read are never registered', () => {
        const ext = backend.externalBuffer(8192);
        for (const later of [0, 100.5, -1]) {
          const { mem } = changing(
            { phyAddr: ext.phyAddr, virAddr: null, memSize: 128 },
            { memSize: later },
          );
          assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
          assert.equal(mem.virAddr!.byteLength, 128);
          assert.equal(hbSysUnregisterMem({ ...plain(mem) }), HB_SYS_SUCCESS);
        }
        // The other way round: an invalid first read is refused, whatever follows.
        const before = counts();
        const { mem } = changing(
          { phyAddr: ext.phyAddr, virAddr: null, memSize: 0 },
          { memSize: 128 },
        );
        assert.equal(hbSysRegisterMem(mem), HB_SYS_INVALID_ARGUMENT);
        assert.deepEqual(counts(), before);
        ext.free();
      });

      test('register: a phyAddr that is a string on the second read registers the first', () => {
        const ext = backend.externalBuffer(8192);
        const { mem, reads } = changing(
          { phyAddr: ext.phyAddr + 4096n, virAddr: null, memSize: 4096 },
          { phyAddr: '0x4000' },
        );
        assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        assert.equal(reads.phyAddr, 1);
        assert.equal(mem.virAddr!.byteLength, 4096);
        assert.equal(
          hbSysUnregisterMem({ phyAddr: ext.phyAddr + 4096n, virAddr: mem.virAddr, memSize: 4096 }),
          HB_SYS_SUCCESS,
        );
        ext.free();
      });

      test('flush, write, read, free and unregister read each field at most once', () => {
        const target = alloc(4096, true);
        const host = new Uint8Array(4096);
        const calls: [string, (m: hbSysMem) => number][] = [
          ['flush', (m) => hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN)],
          ['write', (m) => hbSysWriteMem(m, host, 16)],
          ['read', (m) => hbSysReadMem(host, m, 16)],
          ['unregister', (m) => hbSysUnregisterMem(m)],
          ['free', (m) => hbSysFreeMem(m)],
        ];
        for (const [name, call] of calls) {
          const { mem, reads } = changing(target, {
            phyAddr: target.phyAddr + 64n,
            virAddr: null,
            memSize: 2 ** 32 + 64,
          });
          call(mem);
          for (const [field, n] of Object.entries(reads)) {
            assert.ok(n <= 1, `${name} read ${field} ${n} times`);
          }
        }
        assert.equal(hbSysFreeMem(target), HB_SYS_INVALID_ARGUMENT, 'the last call freed it');
      });

      test('write: a memSize that changes after the first read bounds the copy by the first', () => {
        const target = alloc(4096);
        const { mem } = changing({ ...target, memSize: 16 }, { memSize: 4096 });
        const before = target.virAddr!.slice();
        assert.equal(hbSysWriteMem(mem, pattern(4096, 1), 4096), HB_SYS_INVALID_ARGUMENT);
        assert.deepEqual(target.virAddr, before, 'nothing was copied');
        assert.equal(hbSysFreeMem(target), HB_SYS_SUCCESS);
      });
    });

    describe('host bytes that shrink or detach during the call', () => {
      for (const [name, call] of [
        ['hbSysWriteMem', (m: hbSysMem, b: Uint8Array) => hbSysWriteMem(m, b, b.byteLength)],
        ['hbSysReadMem', (m: hbSysMem, b: Uint8Array) => hbSysReadMem(b, m, b.byteLength)],
      ] as const) {
        test(`${name}: a resizable buffer shrunk by a getter is refused, nothing copied`, () => {
          const size = 1 << 20;
          const target = alloc(size);
          target.virAddr!.set(pattern(size, 3));
          const before = target.virAddr!.slice();
          const ab = resizable(size);
          const bytes = new Uint8Array(ab);
          bytes.set(pattern(size, 9));
          const { mem } = changing(target, {}, { memSize: () => ab.resize(10) });
          assert.equal(call(mem, bytes), HB_SYS_INVALID_ARGUMENT);
          assert.match(hbSysGetLastError()!.message, /\(10\)/);
          assert.deepEqual(target.virAddr, before, 'the BPU memory is as it was');
          assert.equal(hbSysFreeMem(target), HB_SYS_SUCCESS);
        });

        test(`${name}: a buffer detached by a getter is refused`, () => {
          const target = alloc(4096);
          const before = target.virAddr!.slice();
          const ab = new ArrayBuffer(4096);
          const bytes = new Uint8Array(ab);
          const { mem } = changing(target, {}, { virAddr: () => detach(ab) });
          assert.equal(call(mem, bytes), HB_SYS_INVALID_ARGUMENT);
          assert.deepEqual(target.virAddr, before);
          assert.equal(hbSysFreeMem(target), HB_SYS_SUCCESS);
        });
      }

      test('typed arrays that lie about their length, and Proxies of them, are not trusted', () => {
        const target = alloc(4096);
        const liar = new Uint8Array(8);
        Object.defineProperty(liar, 'byteLength', { value: 4096 });
        Object.defineProperty(liar, 'length', { value: 4096 });
        assert.equal(hbSysWriteMem(target, liar, 4096), HB_SYS_INVALID_ARGUMENT);
        assert.equal(hbSysReadMem(liar, target, 4096), HB_SYS_INVALID_ARGUMENT);
        assert.equal(hbSysWriteMem(target, liar, 8), HB_SYS_SUCCESS, 'its real 8 bytes are fine');
        const proxy = new Proxy(new Uint8Array(4096), {});
        assert.equal(hbSysWriteMem(target, proxy, 16), HB_SYS_INVALID_ARGUMENT);
        const fake = Object.create(Uint8Array.prototype) as Uint8Array;
        assert.equal(hbSysReadMem(fake, target, 16), HB_SYS_INVALID_ARGUMENT);
        assert.equal(hbSysFreeMem(target), HB_SYS_SUCCESS);
      });
    });

    describe('a failing call changes nothing', () => {
      const refusing: [string, () => hbSysMem][] = [
        [
          'a frozen prototype',
          () => Object.create(Object.freeze({ phyAddr: 0n, virAddr: null, memSize: 0 })),
        ],
        [
          'a setter that throws',
          () =>
            ({
              phyAddr: 0n,
              memSize: 0,
              get virAddr() {
                return null;
              },
              set virAddr(_v) {
                throw new Error('no');
              },
            }) as unknown as hbSysMem,
        ],
        [
          'a Proxy whose set trap throws on memSize',
          () =>
            new Proxy(empty(), {
              set(t, k, v) {
                if (k === 'memSize') throw new Error('trap');
                return Reflect.set(t, k, v);
              },
            }),
        ],
        [
          'a Proxy whose defineProperty trap refuses',
          () => new Proxy(empty(), { defineProperty: () => false }),
        ],
      ];
      for (const [name, make] of refusing) {
        test(`alloc into ${name}: INVALID_ARGUMENT, and no allocation stays live`, () => {
          const before = counts();
          for (let i = 0; i < 40; i++) {
            for (const fn of [hbSysAllocMem, hbSysAllocCachedMem]) {
              const mem = make();
              assert.equal(fn(mem, 4096), HB_SYS_INVALID_ARGUMENT);
              assert.match(hbSysGetLastError()!.message, /nothing was allocated/);
            }
          }
          assert.deepEqual(counts(), before, 'every attempt was undone');
          // And the heap still serves a plain caller.
          const ok = alloc(4096);
          assert.equal(hbSysFreeMem(ok), HB_SYS_SUCCESS);
        });
      }

      test('alloc into a Proxy that refuses memSize leaves the fields it wrote as they were', () => {
        const target = { phyAddr: 5n, virAddr: null, memSize: 7 } as hbSysMem;
        const mem = new Proxy(target, {
          set(t, k, v) {
            if (k === 'memSize') throw new Error('trap');
            return Reflect.set(t, k, v);
          },
        });
        assert.equal(hbSysAllocMem(mem, 64), HB_SYS_INVALID_ARGUMENT);
        assert.deepEqual(target, { phyAddr: 5n, virAddr: null, memSize: 7 });
      });

      test('free through a mem whose virAddr setter throws: nothing is freed', () => {
        const real = alloc(4096);
        real.virAddr!.set(pattern(4096, 5));
        const before = counts();
        const mem = {
          phyAddr: real.phyAddr,
          memSize: 4096,
          get virAddr() {
            return real.virAddr;
          },
          set virAddr(_v) {
            throw new Error('read-only');
          },
        } as hbSysMem;
        assert.equal(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT);
        assert.match(hbSysGetLastError()!.message, /nothing was freed/);
        assert.deepEqual(counts(), before, 'the allocation is still live');
        assert.deepEqual(
          new Uint8Array(real.virAddr!),
          pattern(4096, 5),
          'and its memory is intact',
        );
        const back = new Uint8Array(4096);
        assert.equal(hbSysReadMem(back, real, 4096), HB_SYS_SUCCESS, 'and usable');
        assert.equal(hbSysFreeMem(real), HB_SYS_SUCCESS);
      });

      test('unregister through a mem whose virAddr setter throws: nothing is unregistered', () => {
        const ext = backend.externalBuffer(4096);
        const real: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 4096 };
        assert.equal(hbSysRegisterMem(real), HB_SYS_SUCCESS);
        const before = counts();
        const mem = new Proxy(real, {
          set: () => {
            throw new Error('read-only');
          },
        });
        assert.equal(hbSysUnregisterMem(mem), HB_SYS_INVALID_ARGUMENT);
        assert.deepEqual(counts(), before);
        assert.ok(real.virAddr instanceof Uint8Array);
        assert.equal(hbSysFlushMem(real, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
        assert.equal(hbSysUnregisterMem(real), HB_SYS_SUCCESS);
        ext.free();
      });

      test('register into a mem that refuses virAddr: no registration stays live', () => {
        const ext = backend.externalBuffer(4096);
        const before = counts();
        for (let i = 0; i < 20; i++) {
          const mem = Object.create(
            Object.freeze({ phyAddr: ext.phyAddr, virAddr: null, memSize: 4096 }),
          ) as hbSysMem;
          assert.equal(hbSysRegisterMem(mem), HB_SYS_INVALID_ARGUMENT);
          assert.match(hbSysGetLastError()!.message, /nothing was registered/);
        }
        assert.deepEqual(counts(), before);
        // The range is free to register: no leftover registration overlaps it.
        const again: hbSysMem = { phyAddr: ext.phyAddr, virAddr: null, memSize: 4096 };
        assert.equal(hbSysRegisterMem(again), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
        assert.equal(hbSysUnregisterMem(again), HB_SYS_SUCCESS);
        ext.free();
      });
    });

    describe('getters that free the memory being used', () => {
      test('a flush whose memSize getter frees the mem is INVALID_ARGUMENT', () => {
        const real = alloc(4096, true);
        const { mem } = changing(real, {}, { memSize: () => hbSysFreeMem(real) });
        assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
        assert.equal(real.virAddr, null, 'the getter did free it');
      });

      test('a write or read whose getter frees the destination is INVALID_ARGUMENT', () => {
        for (const call of [
          (m: hbSysMem) => hbSysWriteMem(m, new Uint8Array(64), 64),
          (m: hbSysMem) => hbSysReadMem(new Uint8Array(64), m, 64),
        ]) {
          const real = alloc(4096);
          const before = counts();
          const { mem } = changing(real, {}, { phyAddr: () => hbSysFreeMem(real) });
          assert.equal(call(mem), HB_SYS_INVALID_ARGUMENT);
          assert.equal(counts().allocations, before.allocations - 1);
        }
      });

      test('host bytes that are a view of memory a getter freed', () => {
        const target = alloc(4096);
        const other = alloc(4096);
        const kept = other.virAddr!;
        const { mem } = changing(target, {}, { memSize: () => hbSysFreeMem(other) });
        const code = hbSysWriteMem(mem, kept, 64);
        if (backend.refusesStaleViews) assert.equal(code, HB_SYS_INVALID_ARGUMENT);
        else assert.ok(code === HB_SYS_SUCCESS || code === HB_SYS_INVALID_ARGUMENT);
        assert.equal(hbSysFreeMem(target), HB_SYS_SUCCESS);
      });
    });

    describe('the buffer API throws only HbSysError for bad input', () => {
      const isInvalid = (e: unknown) => {
        assert.ok(e instanceof HbSysError, `expected an HbSysError, got ${String(e)}`);
        assert.equal(e.code, HB_SYS_INVALID_ARGUMENT);
        return true;
      };

      test('detached, shrunk and fake host bytes', () => {
        using buf = allocate(64);
        const detached = new Uint8Array(16);
        detach(detached.buffer);
        const ab = resizable(32);
        const shrunk = new Uint8Array(ab, 0, 32);
        ab.resize(8);
        const fake = Object.create(Uint8Array.prototype);
        const proxy = new Proxy(new Uint8Array(8), {});
        const dv = new DataView(new ArrayBuffer(16));
        detach(dv.buffer);
        for (const bad of [detached, shrunk, fake, proxy, dv]) {
          assert.throws(() => buf.write(bad), isInvalid);
          assert.throws(() => buf.read(bad), isInvalid);
        }
      });

      test('bigint, NaN and Proxy offsets; null and fake view types', () => {
        using buf = allocate(64);
        const fakeType = {
          get BYTES_PER_ELEMENT() {
            throw new Error('boom');
          },
        };
        for (const call of [
          () => buf.view(Float32Array, 4n as never),
          () => buf.view(Float32Array, 0, 2n as never),
          () => buf.view(null as never),
          () => buf.view(undefined as never),
          () => buf.view({} as never),
          () => buf.view(fakeType as never),
          () => buf.view(new Proxy(Float32Array, {}) as never),
          () => buf.view(DataView as never),
          () => buf.write(new Uint8Array(1), 1n as never),
          () => buf.write(new Uint8Array(1), new Proxy({}, {}) as never),
          () => buf.read(undefined, 1n as never),
          () => buf.read(new Uint8Array(1), Number.NaN),
        ]) {
          assert.throws(call, isInvalid);
        }
        assert.equal(buf.view(Float32Array, 4).length, 15, 'valid calls still work');
      });

      test('options whose getters throw, Proxies of options, and non-object options', () => {
        const before = counts();
        const throwing = {
          get cached(): boolean {
            throw new Error('boom');
          },
        };
        const trap = new Proxy(
          {},
          {
            get() {
              throw new Error('trap');
            },
          },
        );
        for (const options of [throwing, trap, null, 5, 'cached']) {
          assert.throws(() => allocate(64, options as never), isInvalid);
        }
        const ext = backend.externalBuffer(4096);
        for (const options of [
          {
            get label(): string {
              throw new Error('boom');
            },
          },
          trap,
          { label: 5 },
          null,
        ]) {
          assert.throws(() => register(ext.phyAddr, 4096, options as never), isInvalid);
        }
        ext.free();
        assert.deepEqual(counts(), before, 'nothing was allocated or registered');
      });

      test("a buffer whose mem was tampered with throws HbSysError, not the tamperer's error", () => {
        const buf = allocate(64);
        const view = buf.mem.virAddr;
        Object.defineProperty(buf.mem, 'virAddr', {
          configurable: true,
          get() {
            throw new RangeError('tampered');
          },
        });
        assert.throws(() => buf.bytes, isInvalid);
        assert.throws(() => buf.view(Uint8Array), isInvalid);
        Object.defineProperty(buf.mem, 'virAddr', {
          configurable: true,
          writable: true,
          value: view,
        });
        buf.free();
      });
    });
  });
}

/** The current values of a getter-based mem, as a plain object (for cleanup). */
function plain(mem: hbSysMem): hbSysMem {
  return { phyAddr: mem.phyAddr, virAddr: mem.virAddr, memSize: mem.memSize };
}
