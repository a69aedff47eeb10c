/** The eight functions on the emulator: what each does, and each status code it returns. */

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetErrorDesc,
  hbSysGetLastError,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { newMem, smallMachine, snapshot } from '../helpers.js';

const HEAP_BASE = 0x0400_0000n;

function alloc(size: number, cached = false): hbSysMem {
  const mem = newMem();
  assert.equal((cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size), HB_SYS_SUCCESS);
  return mem;
}

describe('constants and descriptions', () => {
  test('the codes and flags are the vendor header values', async () => {
    const h = await import('../../src/index.js');
    assert.equal(h.HB_SYS_SUCCESS, 0);
    assert.equal(h.HB_SYS_INVALID_ARGUMENT, -6000129);
    assert.equal(h.HB_SYS_OUT_OF_MEMORY, -6000130);
    assert.equal(h.HB_SYS_REGISTER_MEM_FAILED, -6000131);
    assert.equal(h.HB_SYS_MEM_CACHE_INVALIDATE, 1);
    assert.equal(h.HB_SYS_MEM_CACHE_CLEAN, 2);
  });

  test('hbSysGetErrorDesc names every code and says so for unknown ones', () => {
    assert.match(hbSysGetErrorDesc(HB_SYS_OUT_OF_MEMORY), /HB_SYS_OUT_OF_MEMORY.*out of memory/);
    assert.match(hbSysGetErrorDesc(HB_SYS_REGISTER_MEM_FAILED), /REGISTER_MEM_FAILED/);
    assert.match(hbSysGetErrorDesc(0), /SUCCESS/);
    assert.match(hbSysGetErrorDesc(42), /unknown status code 42/);
  });
});

describe('allocation', () => {
  beforeEach(() => smallMachine());

  test('fills all three fields of any plain object; page-aligned inside the heap', () => {
    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocMem(mem, 1000), HB_SYS_SUCCESS);
    assert.equal(typeof mem.phyAddr, 'bigint');
    assert.ok(mem.phyAddr >= HEAP_BASE && mem.phyAddr < HEAP_BASE + (1n << 20n));
    assert.equal(mem.phyAddr % 4096n, 0n);
    assert.equal(mem.memSize, 1000);
    assert.ok(mem.virAddr instanceof Uint8Array);
    assert.equal(mem.virAddr.byteLength, 1000);
  });

  test('allocations are contiguous and never overlap', () => {
    const mems = [1, 4096, 4097, 10000, 3].map((n) => alloc(n));
    const spans = mems
      .map((m) => [m.phyAddr, m.phyAddr + BigInt(m.memSize)] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1]);
  });

  test('a page size option changes the alignment', async () => {
    await smallMachine({ pageSize: 64 });
    const a = alloc(1);
    const b = alloc(1);
    assert.equal(b.phyAddr - a.phyAddr, 64n);
  });

  test('the whole heap can be allocated, and then nothing more: OUT_OF_MEMORY says why', () => {
    const all = alloc(1 << 20);
    const mem = newMem();
    const before = snapshot(mem);
    assert.equal(hbSysAllocMem(mem, 1), HB_SYS_OUT_OF_MEMORY);
    assert.match(hbSysGetLastError()!.message, /no room for 1 bytes.*0 bytes are free/);
    assert.equal(snapshot(mem), before);
    assert.equal(hbSysFreeMem(all), HB_SYS_SUCCESS);
    assert.equal(emulator.stats().largestFreeBlock, 1 << 20, 'one free block again');
  });

  test('larger than the heap is OUT_OF_MEMORY', () => {
    assert.equal(hbSysAllocMem(newMem(), (1 << 20) + 1), HB_SYS_OUT_OF_MEMORY);
    assert.equal(hbSysAllocMem(newMem(), 0xffff_ffff), HB_SYS_OUT_OF_MEMORY);
  });

  test('the descriptor budget: maxAllocations live, then OUT_OF_MEMORY that says which', async () => {
    await smallMachine({ maxAllocations: 3 });
    const mems = [alloc(1), alloc(1), alloc(1)];
    assert.equal(hbSysAllocCachedMem(newMem(), 1), HB_SYS_OUT_OF_MEMORY);
    assert.match(hbSysGetLastError()!.message, /descriptor budget.*maxAllocations is 3/);
    assert.equal(hbSysFreeMem(mems[0]!), HB_SYS_SUCCESS);
    alloc(1);
  });

  test('a leak in a loop fails as on the board', async () => {
    await smallMachine({ maxAllocations: 16 });
    let code = HB_SYS_SUCCESS;
    let n = 0;
    while (code === HB_SYS_SUCCESS && n < 100) {
      code = hbSysAllocMem(newMem(), 16);
      n++;
    }
    assert.equal(code, HB_SYS_OUT_OF_MEMORY);
    assert.equal(n, 17);
  });

  test('stats follow allocations; freeing everything makes the heap one block', () => {
    const a = alloc(5000);
    const b = alloc(100, true);
    let s = emulator.stats();
    assert.equal(s.heapSize, 1 << 20);
    assert.equal(s.bytesInUse, 8192 + 4096);
    assert.equal(s.bytesFree, (1 << 20) - 12288);
    assert.equal(s.allocationCount, 2);
    assert.equal(s.bytesRequested, 5100);
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    s = emulator.stats();
    assert.equal(s.peakBytesInUse, 12288);
    assert.equal(s.allocationCount, 1);
    assert.equal(hbSysFreeMem(b), HB_SYS_SUCCESS);
    s = emulator.stats();
    assert.equal(s.bytesInUse, 0);
    assert.equal(s.largestFreeBlock, 1 << 20);
    assert.equal(s.fragmentation, 0);
  });

  test('the heap size comes from HB_DNN_SIM_BPU_MEM_SIZE (MiB) when not given', async () => {
    const saved = process.env.HB_DNN_SIM_BPU_MEM_SIZE;
    try {
      process.env.HB_DNN_SIM_BPU_MEM_SIZE = '3';
      await emulator.reset({ vioSize: 1 << 20 });
      assert.equal(emulator.stats().heapSize, 3 << 20);
      delete process.env.HB_DNN_SIM_BPU_MEM_SIZE;
      await emulator.reset({ vioSize: 1 << 20 });
      assert.equal(emulator.stats().heapSize, 672 << 20);
      process.env.HB_DNN_SIM_BPU_MEM_SIZE = 'lots';
      await assert.rejects(emulator.reset(), /HB_DNN_SIM_BPU_MEM_SIZE must be a whole number/);
    } finally {
      if (saved === undefined) delete process.env.HB_DNN_SIM_BPU_MEM_SIZE;
      else process.env.HB_DNN_SIM_BPU_MEM_SIZE = saved;
    }
  });

  test('bad reset options throw INVALID_ARGUMENT and keep the machine', async () => {
    const a = alloc(10);
    for (const bad of [
      { pageSize: 100 },
      { pageSize: 32 },
      { heapSize: 1000 },
      { heapSize: -4096 },
      { maxAllocations: 0 },
      { cacheModel: 'loose' },
      { sanitize: 'loud' },
    ]) {
      await assert.rejects(emulator.reset(bad as never), (e: Error & { code?: number }) => {
        assert.equal(e.code, HB_SYS_INVALID_ARGUMENT);
        return true;
      });
    }
    assert.equal(emulator.stats().allocationCount, 1);
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
  });
});

describe('free', () => {
  beforeEach(() => smallMachine());

  test('sets virAddr to null; a second free is INVALID_ARGUMENT', () => {
    const a = alloc(64);
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    assert.equal(a.virAddr, null);
    assert.equal(hbSysFreeMem(a), HB_SYS_INVALID_ARGUMENT);
  });

  test('a stale copy cannot touch the new owner of the same address', () => {
    const a = alloc(4096, true);
    const copy = { ...a };
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    const b = alloc(4096, true);
    assert.equal(b.phyAddr, copy.phyAddr, 'the address was reused');
    b.virAddr!.fill(0x44);
    const state = snapshot(b);
    assert.equal(hbSysFreeMem(copy), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /stale hbSysMem/);
    assert.equal(hbSysFlushMem(copy, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysWriteMem(copy, new Uint8Array(8), 8), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysReadMem(new Uint8Array(8), copy, 8), HB_SYS_INVALID_ARGUMENT);
    assert.equal(snapshot(b), state);
    assert.ok(b.virAddr!.every((x) => x === 0x44));
  });

  test('a copy of a live mem works as the original (as a struct copy does in C)', () => {
    const a = alloc(64);
    const copy = { ...a };
    assert.equal(hbSysWriteMem(copy, new Uint8Array([1, 2, 3]), 3), HB_SYS_SUCCESS);
    assert.equal(a.virAddr![2], 3);
    assert.equal(hbSysFreeMem(copy), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(a), HB_SYS_INVALID_ARGUMENT, 'the original is stale now');
  });

  test('an allocation with live registrations inside is not freed', () => {
    const a = alloc(8192);
    const reg: hbSysMem = { phyAddr: a.phyAddr, virAddr: null, memSize: 100 };
    assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(a), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /hbSysUnregisterMem them first/);
    assert.equal(hbSysUnregisterMem(reg), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
  });

  test('a changed phyAddr is refused', () => {
    const a = alloc(64);
    const moved = { ...a, phyAddr: a.phyAddr + 4096n };
    assert.equal(hbSysFreeMem(moved), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /does not match/);
  });
});

describe('write and read', () => {
  beforeEach(() => smallMachine());

  test('copy through the CPU mapping, from and into any view or buffer', () => {
    const a = alloc(16);
    assert.equal(hbSysWriteMem(a, new Uint16Array([0x0201, 0x0403]), 4), HB_SYS_SUCCESS);
    assert.deepEqual([...a.virAddr!.subarray(0, 4)], [1, 2, 3, 4]);
    const out = new ArrayBuffer(4);
    assert.equal(hbSysReadMem(out, a, 4), HB_SYS_SUCCESS);
    assert.deepEqual([...new Uint8Array(out)], [1, 2, 3, 4]);
    const dv = new DataView(new ArrayBuffer(8), 2, 4);
    assert.equal(hbSysReadMem(dv, a, 4), HB_SYS_SUCCESS);
    assert.equal(dv.getUint8(3), 4);
  });

  test('no implicit flush: a write to cached memory stays in the cache', () => {
    const a = alloc(64, true);
    assert.equal(hbSysWriteMem(a, new Uint8Array(64).fill(8), 64), HB_SYS_SUCCESS);
    assert.ok(emulator.peek(a.phyAddr, 64).every((x) => x === 0));
  });

  test('sizes beyond memSize or the host bytes are INVALID_ARGUMENT and copy nothing', () => {
    const a = alloc(16);
    const before = snapshot(a);
    assert.equal(hbSysWriteMem(a, new Uint8Array(32).fill(1), 17), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysWriteMem(a, new Uint8Array(4).fill(1), 5), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysReadMem(new Uint8Array(32), a, 17), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysReadMem(new Uint8Array(4), a, 5), HB_SYS_INVALID_ARGUMENT);
    assert.ok(a.virAddr!.every((x) => x === 0));
    assert.equal(snapshot(a), before);
  });

  test('a lowered memSize bounds the copies', () => {
    const a = alloc(16);
    a.memSize = 4;
    assert.equal(hbSysWriteMem(a, new Uint8Array(8), 5), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysWriteMem(a, new Uint8Array(8), 4), HB_SYS_SUCCESS);
    a.memSize = 17;
    assert.equal(hbSysWriteMem(a, new Uint8Array(8), 4), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /memSize must be an integer in 1 … 16/);
  });
});

describe('register and unregister', () => {
  beforeEach(() => smallMachine());

  test('a VIO buffer registers as a cached mapping; unregister keeps the memory', async () => {
    const frame = emulator.vio.alloc(6000);
    emulator.vio.write(frame.phyAddr, new Uint8Array(6000).fill(0x80));
    const mem = { phyAddr: frame.phyAddr, memSize: 6000 } as hbSysMem;
    assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS);
    assert.equal(mem.virAddr!.byteLength, 6000);
    assert.equal(mem.virAddr![0], 0, 'a cached mapping: the camera data needs INVALIDATE');
    assert.equal(hbSysFlushMem(mem, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    assert.equal(mem.virAddr![0], 0x80);
    assert.equal(hbSysUnregisterMem(mem), HB_SYS_SUCCESS);
    assert.equal(mem.virAddr, null);
    assert.ok(
      emulator.peek(frame.phyAddr, 6000).every((x) => x === 0x80),
      'memory kept',
    );
    assert.equal(hbSysUnregisterMem(mem), HB_SYS_INVALID_ARGUMENT, 'not live any more');
    emulator.vio.free(frame.phyAddr);
  });

  test('unknown ranges, and ranges overlapping a live registration, fail to register', () => {
    const a = alloc(8192);
    const cases: [bigint, number][] = [
      [0x100n, 16], // below the heap
      [a.phyAddr + 8192n, 16], // free heap after the allocation
      [a.phyAddr + 8000n, 400], // runs past the allocation
      [a.phyAddr + 5000n, 3193], // past its requested size
    ];
    for (const [phyAddr, memSize] of cases) {
      const mem = { phyAddr, memSize } as hbSysMem;
      assert.equal(hbSysRegisterMem(mem), HB_SYS_REGISTER_MEM_FAILED, `0x${phyAddr.toString(16)}`);
      assert.equal(mem.virAddr, undefined, 'the mem is left as it was');
    }
    const first = { phyAddr: a.phyAddr + 100n, memSize: 100 } as hbSysMem;
    assert.equal(hbSysRegisterMem(first), HB_SYS_SUCCESS);
    const overlapping = { phyAddr: a.phyAddr + 150n, memSize: 100 } as hbSysMem;
    assert.equal(hbSysRegisterMem(overlapping), HB_SYS_REGISTER_MEM_FAILED);
    assert.match(hbSysGetLastError()!.message, /overlaps the live registration/);
    const again = { phyAddr: a.phyAddr + 100n, memSize: 100 } as hbSysMem;
    assert.equal(hbSysRegisterMem(again), HB_SYS_REGISTER_MEM_FAILED, 'already registered');
    const beside = { phyAddr: a.phyAddr + 200n, memSize: 100 } as hbSysMem;
    assert.equal(hbSysRegisterMem(beside), HB_SYS_SUCCESS, 'adjacent is not overlapping');
  });

  test('free of a registration and unregister of an allocation are INVALID_ARGUMENT', () => {
    const a = alloc(4096);
    const reg = { phyAddr: a.phyAddr, memSize: 64 } as hbSysMem;
    assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(reg), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /is a registration/);
    assert.equal(hbSysUnregisterMem(a), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /is an allocation/);
    assert.equal(emulator.stats().registrationCount, 1);
  });

  test('freed memory cannot be registered', () => {
    const a = alloc(4096);
    const { phyAddr } = a;
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    assert.equal(
      hbSysRegisterMem({ phyAddr, memSize: 64 } as hbSysMem),
      HB_SYS_REGISTER_MEM_FAILED,
    );
  });

  test('a VIO buffer still registered cannot be freed by its owner', () => {
    const frame = emulator.vio.alloc(4096);
    const mem = { phyAddr: frame.phyAddr, memSize: 4096 } as hbSysMem;
    assert.equal(hbSysRegisterMem(mem), HB_SYS_SUCCESS);
    assert.throws(() => emulator.vio.free(frame.phyAddr), /still registered/);
    assert.equal(hbSysUnregisterMem(mem), HB_SYS_SUCCESS);
    emulator.vio.free(frame.phyAddr);
    assert.throws(() => emulator.vio.free(frame.phyAddr), /not the address of a live VIO buffer/);
  });
});

describe('the BPU', () => {
  beforeEach(() => smallMachine());

  test('device work completes asynchronously, in submission order', async () => {
    await smallMachine({ heapSize: 40 << 20 });
    const a = alloc(64);
    const src = alloc(16 << 20);
    const dst = alloc(16 << 20);
    // A synchronous BPU would have filled `a` before the next statement. The real one runs
    // beside this thread, and the fills wait behind copies on its one queue, so the read
    // right after submitting finds the old byte, unless this thread was descheduled longer
    // than the copies take (a loaded machine): each attempt queues more copies ahead, and
    // one read of the old byte is the proof.
    const seen: number[] = [];
    for (let attempt = 1, ahead = 1; attempt <= 4; attempt++, ahead *= 4) {
      const copies = Array.from({ length: ahead }, () =>
        emulator.bpu.copy(dst.phyAddr, src.phyAddr, 16 << 20),
      );
      const order: number[] = [];
      const p1 = emulator.bpu.fill(a.phyAddr, 2 * attempt - 1, 64).then(() => order.push(1));
      const p2 = emulator.bpu.fill(a.phyAddr, 2 * attempt, 64).then(() => order.push(2));
      seen.push(a.virAddr![0]!);
      await Promise.all([...copies, p1, p2]);
      assert.deepEqual(order, [1, 2]);
      assert.equal(a.virAddr![0], 2 * attempt);
      if (seen.at(-1) === 2 * attempt - 2) break;
    }
    assert.ok(
      seen.some((v, i) => v === 2 * i),
      `nothing ran synchronously: the byte read right after submitting was ${seen.join(', ')}`,
    );
  });

  test('an access outside live memory rejects with an error that names the address', async () => {
    const a = alloc(100);
    const { phyAddr } = a;
    await assert.rejects(emulator.bpu.fill(phyAddr + 4096n, 1, 10), /0x04001000/);
    await assert.rejects(emulator.bpu.fill(phyAddr, 1, 101), /past the end/);
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    await assert.rejects(emulator.bpu.copy(phyAddr, phyAddr, 10), /not inside one live/);
    await assert.rejects(emulator.bpu.fill(5 as never, 1, 10), /bigint/);
    const b = alloc(64);
    await emulator.bpu.fill(b.phyAddr, 7, 64);
    assert.equal(b.virAddr![63], 7, 'the BPU keeps serving after a fault');
  });
});
