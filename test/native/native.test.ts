/**
 * What only the native backend has: the C struct layout, zero-copy views of C memory,
 * stale views refused before C, bad arguments that never reach C, and the loading of
 * libdnn.so. Over the C stand-in for libdnn, a test double for the ABI.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  allocate,
  DEFAULT_LIBDNN_PATHS,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_OUT_OF_MEMORY,
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
  type NativeBackend,
  nativeLibraryPath,
  useBackend,
} from '../../src/index.js';
import { libdnnCandidates, loadLibdnn, structLayout } from '../../src/native/libdnn.js';
import { cLayout, fnv1a, notLibdnnPath, standinExtras, standinPath } from './standin.js';

const path = standinPath();
const extras = standinExtras(path);
let backend: NativeBackend;

const empty = (): hbSysMem => ({ phyAddr: 0n, virAddr: null, memSize: 0 });

function alloc(size: number, cached = true): hbSysMem {
  const mem = empty();
  const code = (cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size);
  assert.equal(code, HB_SYS_SUCCESS, hbSysGetLastError()?.message);
  return mem;
}

/** Runs `body` and asserts that C saw none of the eight functions called. */
function withoutC(body: () => void): void {
  const calls = extras.callCount();
  body();
  assert.equal(extras.callCount(), calls, 'the call reached C');
}

before(() => {
  process.env.HBSYS_LIBDNN = path;
  backend = useBackend('native');
});

describe('hbSysMem layout', () => {
  test('koffi lays hbSysMem out as C does: 24 bytes, offsets 0, 8, 16', () => {
    const c = cLayout();
    assert.equal(c.pointerSize, 8);
    assert.deepEqual(
      { sizeof: c.sizeof, phyAddr: c.phyAddr, virAddr: c.virAddr, memSize: c.memSize },
      { sizeof: 24, phyAddr: 0, virAddr: 8, memSize: 16 },
    );
    const js = structLayout();
    assert.deepEqual(
      {
        size: js.size,
        alignment: js.alignment,
        phyAddr: js.phyAddr,
        virAddr: js.virAddr,
        memSize: js.memSize,
      },
      {
        size: c.sizeof,
        alignment: c.alignof,
        phyAddr: c.phyAddr,
        virAddr: c.virAddr,
        memSize: c.memSize,
      },
    );
  });
});

describe('zero-copy views', () => {
  test('bytes written through virAddr are in C memory, without a copy', () => {
    const mem = alloc(100_000);
    const data = new Uint8Array(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) >>> 3;
    mem.virAddr!.set(data);
    assert.equal(extras.checksum(mem.phyAddr, 100_000), fnv1a(data));
    mem.virAddr![12_345] ^= 0xff;
    assert.equal(extras.checksum(mem.phyAddr, 100_000), fnv1a(mem.virAddr!));
    assert.notEqual(extras.checksum(mem.phyAddr, 100_000), fnv1a(data));
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });

  test('what C writes (hbSysWriteMem) is in the view at once; the view is made once', () => {
    const mem = alloc(4096);
    const view = mem.virAddr!;
    const data = new Uint8Array(4096).fill(0xa5);
    assert.equal(hbSysWriteMem(mem, data, 4096), HB_SYS_SUCCESS);
    assert.equal(mem.virAddr, view);
    assert.ok(view.every((b) => b === 0xa5));
    assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.equal(mem.virAddr, view);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });

  test('a typed view of a registration is C memory too', () => {
    const phyAddr = extras.vioAlloc(8192);
    const mem: hbSysMem = { phyAddr, virAddr: null, memSize: 8192 };
    assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS);
    assert.equal(extras.liveRegistrations(), 1);
    new Float32Array(mem.virAddr!.buffer, 0, 2048).fill(1.5);
    assert.equal(
      extras.checksum(phyAddr, 8192),
      fnv1a(new Uint8Array(new Float32Array(2048).fill(1.5).buffer)),
    );
    assert.equal(hbSysUnregisterMem(mem), HB_SYS_SUCCESS);
    assert.equal(extras.liveRegistrations(), 0);
    extras.vioFree(phyAddr);
  });
});

describe('stale views and bad arguments never reach C', () => {
  test('after free: virAddr is null, the buffer throws, a kept view is detached or refused', () => {
    const buf = allocate(4096, { cached: true });
    const kept = buf.mem.virAddr!;
    const typed = buf.view(Uint32Array);
    const copy = { ...buf.mem };
    buf.free();
    assert.equal(buf.mem.virAddr, null);
    assert.throws(
      () => buf.bytes,
      (e: unknown) => e instanceof HbSysError && e.code === HB_SYS_INVALID_ARGUMENT,
    );
    if (backend.detachesStaleViews) {
      assert.equal(kept.byteLength, 0, 'the kept view is detached');
      assert.equal(typed.length, 0, 'typed views of it too');
    } else {
      // Node 20 cannot detach external memory: the backend refuses the view instead.
      assert.equal(kept.byteLength, 4096);
    }
    const live = alloc(4096);
    withoutC(() => {
      assert.equal(hbSysWriteMem(live, kept, 1), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysReadMem(kept, live, 1), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysWriteMem(copy, new Uint8Array(8), 8), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFlushMem(copy, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFreeMem(copy), HB_SYS_INVALID_ARGUMENT);
    });
    assert.equal(hbSysFreeMem(live), HB_SYS_SUCCESS);
  });

  test('after unregister, the registration view is refused as host bytes', () => {
    const phyAddr = extras.vioAlloc(4096);
    const reg: hbSysMem = { phyAddr, virAddr: null, memSize: 4096 };
    assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
    const kept = reg.virAddr!;
    assert.equal(hbSysUnregisterMem(reg), HB_SYS_SUCCESS);
    const live = alloc(4096);
    withoutC(() => {
      assert.equal(hbSysWriteMem(live, kept, 1), HB_SYS_INVALID_ARGUMENT);
      assert.equal(
        hbSysUnregisterMem({ phyAddr, virAddr: kept, memSize: 4096 }),
        HB_SYS_INVALID_ARGUMENT,
      );
    });
    assert.equal(hbSysFreeMem(live), HB_SYS_SUCCESS);
    extras.vioFree(phyAddr);
  });

  test('every kind of bad argument is refused in TypeScript', () => {
    const mem = alloc(64);
    withoutC(() => {
      for (const size of [0, -1, 2 ** 32, 1.5, Number.NaN]) {
        assert.equal(hbSysAllocMem(empty(), size), HB_SYS_INVALID_ARGUMENT);
        assert.equal(hbSysWriteMem(mem, new Uint8Array(100), size), HB_SYS_INVALID_ARGUMENT);
      }
      assert.equal(hbSysWriteMem(mem, new Uint8Array(100), 65), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFlushMem(mem, 3 as HbSysFlushFlag), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFreeMem({ ...mem, virAddr: new Uint8Array(64) }), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFreeMem({ ...mem, phyAddr: mem.phyAddr + 1n }), HB_SYS_INVALID_ARGUMENT);
      assert.equal(
        hbSysRegisterMem({ phyAddr: 0x1000n, virAddr: null, memSize: 0 }),
        HB_SYS_INVALID_ARGUMENT,
      );
      assert.equal(hbSysUnregisterMem(mem), HB_SYS_INVALID_ARGUMENT);
      mem.memSize = 65;
      assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
      mem.memSize = 64;
    });
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });

  test('a lowered memSize reaches C for flush, but free gives back the whole allocation', () => {
    const before = extras.liveAllocations();
    const cleans = extras.flushCount(HB_SYS_MEM_CACHE_CLEAN);
    const mem = alloc(8192);
    mem.memSize = 100;
    assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.equal(extras.flushCount(HB_SYS_MEM_CACHE_CLEAN), cleans + 1n);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
    assert.equal(extras.liveAllocations(), before);
  });

  test('overlapping source and destination in C memory are copied safely', () => {
    const mem = alloc(4096, false);
    for (let i = 0; i < 4096; i++) mem.virAddr![i] = i & 0xff;
    const expected = mem.virAddr!.slice(0, 4000);
    const part: hbSysMem = { phyAddr: mem.phyAddr + 96n, virAddr: null, memSize: 4000 };
    assert.equal(hbSysRegisterMem(part), HB_SYS_SUCCESS);
    // A registration is a second mapping of the same memory: the ranges alias.
    assert.equal(hbSysWriteMem(part, mem.virAddr!, 4000), HB_SYS_SUCCESS);
    assert.deepEqual(part.virAddr, expected);
    assert.equal(hbSysUnregisterMem(part), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });
});

describe('sub-range mems (crops) reach C as C code builds them', () => {
  const crop = (parent: hbSysMem, off: number, size: number): hbSysMem => ({
    phyAddr: parent.phyAddr + BigInt(off),
    virAddr: parent.virAddr!.subarray(off),
    memSize: size,
  });

  test("flush passes the crop's phyAddr, pointer and size to C, not the mapping's", () => {
    const mem = alloc(16384);
    assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    const whole = extras.lastFlush();
    assert.deepEqual(whole, { phyAddr: mem.phyAddr, virAddr: whole.virAddr, memSize: 16384 });
    const invalidates = extras.flushCount(HB_SYS_MEM_CACHE_INVALIDATE);
    assert.equal(hbSysFlushMem(crop(mem, 4160, 2048), HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    assert.equal(extras.flushCount(HB_SYS_MEM_CACHE_INVALIDATE), invalidates + 1n);
    assert.deepEqual(extras.lastFlush(), {
      phyAddr: mem.phyAddr + 4160n,
      virAddr: whole.virAddr + 4160n,
      memSize: 2048,
    });
    // The mapping's own struct is untouched by the crop: the whole mem flushes whole again.
    assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.deepEqual(extras.lastFlush(), whole);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });

  test('write and read copy within the crop, in C memory', () => {
    const mem = alloc(8192, false);
    const c = crop(mem, 1000, 24);
    const data = new Uint8Array(24).map((_, i) => 200 + i);
    assert.equal(hbSysWriteMem(c, data, 24), HB_SYS_SUCCESS);
    const expected = new Uint8Array(8192);
    expected.set(data, 1000);
    assert.equal(extras.checksum(mem.phyAddr, 8192), fnv1a(expected));
    mem.virAddr!.fill(7, 1000, 1024);
    const back = new Uint8Array(24);
    assert.equal(hbSysReadMem(back, c, 24), HB_SYS_SUCCESS);
    assert.deepEqual(back, new Uint8Array(24).fill(7));
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });

  test('a crop whose source overlaps it is copied as memmove does', () => {
    const mem = alloc(4096, false);
    for (let i = 0; i < 4096; i++) mem.virAddr![i] = i & 0xff;
    const expected = mem.virAddr!.slice(0, 4000);
    assert.equal(hbSysWriteMem(crop(mem, 96, 4000), mem.virAddr!, 4000), HB_SYS_SUCCESS);
    assert.deepEqual(mem.virAddr!.subarray(96), expected);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });

  test('crops that leave their mapping, stale crops and crops to free never reach C', () => {
    const mem = alloc(4096);
    const freed = alloc(4096);
    const stale = crop(freed, 64, 64);
    assert.equal(hbSysFreeMem(freed), HB_SYS_SUCCESS);
    const live = extras.liveAllocations();
    withoutC(() => {
      for (const bad of [
        crop(mem, 4000, 97),
        { ...crop(mem, 64, 64), phyAddr: mem.phyAddr },
        { phyAddr: mem.phyAddr + 4096n, virAddr: mem.virAddr!.subarray(4096), memSize: 1 },
        stale,
        // A typed view other than Uint8Array is no crop (C's virAddr is a byte pointer).
        { phyAddr: mem.phyAddr, virAddr: new Float32Array(mem.virAddr!.buffer), memSize: 64 },
      ] as hbSysMem[]) {
        assert.equal(hbSysFlushMem(bad, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
        assert.equal(hbSysWriteMem(bad, new Uint8Array(1), 1), HB_SYS_INVALID_ARGUMENT);
      }
      assert.equal(hbSysFreeMem(crop(mem, 64, 64)), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFreeMem(crop(mem, 0, 4096)), HB_SYS_INVALID_ARGUMENT);
    });
    assert.equal(extras.liveAllocations(), live);
    assert.equal(backend.isCached({ ...crop(mem, 8, 8), source: mem }), true);
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  });
});

describe('codes libdnn returns', () => {
  test('an unknown status code is named as unknown, not as INVALID_ARGUMENT', () => {
    const live = extras.liveAllocations();
    extras.failNext(-6000199);
    const mem = empty();
    assert.equal(hbSysAllocMem(mem, 64), -6000199);
    const last = hbSysGetLastError()!;
    assert.equal(last.code, -6000199);
    assert.equal(last.name, undefined);
    assert.match(last.message, /unknown status code -6000199/);
    assert.deepEqual(mem, empty());
    extras.failNext(-6000199);
    assert.throws(
      () => allocate(64),
      (e: unknown) => {
        assert.ok(e instanceof HbSysError);
        assert.equal(e.code, -6000199);
        assert.equal(e.status, undefined);
        assert.match(e.message, /^unknown status code -6000199: hbSysAllocMem/);
        return true;
      },
    );
    assert.equal(extras.liveAllocations(), live);
  });

  test('a known code from libdnn keeps its name', () => {
    extras.failNext(HB_SYS_OUT_OF_MEMORY);
    assert.equal(hbSysAllocMem(empty(), 64), HB_SYS_OUT_OF_MEMORY);
    assert.equal(hbSysGetLastError()!.name, 'HB_SYS_OUT_OF_MEMORY');
  });
});

describe('loading libdnn.so', () => {
  test('the backend says which library it loaded', () => {
    assert.equal(backend.name, 'native');
    assert.equal(backend.libraryPath, path);
    assert.equal(nativeLibraryPath(), path);
  });

  test('HBSYS_LIBDNN alone is tried when set; else the RDK default paths', () => {
    assert.deepEqual(libdnnCandidates({ HBSYS_LIBDNN: '/x/libdnn.so' }), ['/x/libdnn.so']);
    assert.deepEqual(libdnnCandidates({}), DEFAULT_LIBDNN_PATHS);
    assert.deepEqual(libdnnCandidates({ HBSYS_LIBDNN: '' }), DEFAULT_LIBDNN_PATHS);
    assert.ok(DEFAULT_LIBDNN_PATHS.includes('/usr/hobot/lib/libdnn.so'));
  });

  test('when nothing loads, the error lists every path tried and why', () => {
    const missing = '/nonexistent/hbsys-test/libdnn.so';
    const notLibdnn = notLibdnnPath();
    const unknownName = 'libhbsys-no-such-library.so';
    assert.throws(
      () => loadLibdnn([missing, notLibdnn, unknownName]),
      (e: unknown) => {
        assert.ok(e instanceof HbSysError);
        const lines = e.message.split('\n');
        assert.ok(
          lines.some((l) => l.includes(missing) && l.includes('no such file')),
          e.message,
        );
        assert.ok(
          lines.some((l) => l.includes(notLibdnn) && l.includes('hbSysAllocMem')),
          e.message,
        );
        assert.ok(
          lines.some((l) => l.includes(unknownName)),
          e.message,
        );
        assert.match(e.message, /HBSYS_LIBDNN/);
        return true;
      },
    );
  });

  test('the first candidate that is libdnn wins', () => {
    const lib = loadLibdnn(['/nonexistent/libdnn.so', notLibdnnPath(), path]);
    assert.equal(lib.path, path);
  });
});
