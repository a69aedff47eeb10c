/**
 * The CPU cache model, scenario by scenario, as the README states it ("What the emulator
 * models"): a cached mapping shows the CPU's copy; nothing the CPU writes reaches memory
 * before CLEAN; nothing the BPU writes is visible through a cached mapping before
 * INVALIDATE.
 */

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import {
  emulator,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  type hbSysMem,
  hbSysRegisterMem,
} from '../../../src/index.js';
import { newMem, smallMachine } from '../../helpers.js';

function alloc(size: number, cached: boolean): hbSysMem {
  const mem = newMem();
  const code = cached ? hbSysAllocCachedMem(mem, size) : hbSysAllocMem(mem, size);
  assert.equal(code, HB_SYS_SUCCESS);
  return mem;
}

/** What the BPU sees at `mem`: physical memory. */
function deviceView(mem: hbSysMem, size = mem.memSize): Uint8Array {
  return emulator.peek(mem.phyAddr, size);
}

describe('cache model (strict)', () => {
  beforeEach(() => smallMachine());

  test('1. uncached: a CPU write reaches the BPU at once, a BPU fill reaches the CPU at once', async () => {
    const a = alloc(256, false);
    const b = alloc(256, false);
    a.virAddr!.fill(0x5a);
    await emulator.bpu.copy(b.phyAddr, a.phyAddr, 256);
    assert.ok(
      b.virAddr!.every((x) => x === 0x5a),
      'BPU copy saw the CPU write',
    );
    await emulator.bpu.fill(a.phyAddr, 0x33, 256);
    assert.ok(
      a.virAddr!.every((x) => x === 0x33),
      'CPU saw the BPU fill',
    );
  });

  test('2. cached: a CPU write is not visible to the BPU before CLEAN, and is after', async () => {
    const a = alloc(256, true);
    const sink = alloc(256, false);
    a.virAddr!.fill(0x77);
    await emulator.bpu.copy(sink.phyAddr, a.phyAddr, 256);
    assert.ok(
      sink.virAddr!.every((x) => x === 0),
      'BPU read memory, not the dirty cache',
    );
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    await emulator.bpu.copy(sink.phyAddr, a.phyAddr, 256);
    assert.ok(
      sink.virAddr!.every((x) => x === 0x77),
      'after CLEAN the BPU sees the write',
    );
  });

  test('3. cached: a BPU fill is not visible through virAddr before INVALIDATE, and is after', async () => {
    const a = alloc(256, true);
    await emulator.bpu.fill(a.phyAddr, 0x42, 256);
    assert.ok(
      a.virAddr!.every((x) => x === 0),
      'the CPU still sees its stale copy',
    );
    assert.ok(deviceView(a).every((x) => x === 0x42));
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    assert.ok(
      a.virAddr!.every((x) => x === 0x42),
      'after INVALIDATE the CPU sees the fill',
    );
  });

  test('4. a needless CLEAN after the BPU writes does not overwrite its data', async () => {
    const a = alloc(4096, true);
    await emulator.bpu.fill(a.phyAddr, 0x11, 4096);
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.ok(
      deviceView(a).every((x) => x === 0x11),
      'clean lines are not written back',
    );
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    assert.ok(a.virAddr!.every((x) => x === 0x11));
  });

  test('5. CPU dirties line A, BPU writes line B: INVALIDATE shows both', async () => {
    const a = alloc(256, true);
    a.virAddr!.fill(0xaa, 0, 64); // line A
    await emulator.bpu.fill(a.phyAddr + 64n, 0xbb, 64); // line B
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    const v = a.virAddr!;
    assert.ok(
      v.subarray(0, 64).every((x) => x === 0xaa),
      'the CPU keeps its line A',
    );
    assert.ok(
      v.subarray(64, 128).every((x) => x === 0xbb),
      'the CPU sees the BPU line B',
    );
    assert.ok(v.subarray(128).every((x) => x === 0));
    assert.ok(
      deviceView(a)
        .subarray(0, 64)
        .every((x) => x === 0xaa),
      'A was written back',
    );
  });

  test('6. CPU and BPU both write line A: INVALIDATE writes the CPU line back over the BPU', async () => {
    const a = alloc(128, true);
    a.virAddr![3] = 0xc1; // one byte dirties the whole line
    await emulator.bpu.fill(a.phyAddr, 0xd2, 128);
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    const v = a.virAddr!;
    assert.equal(v[3], 0xc1);
    assert.equal(v[0], 0, 'the whole dirty line, stale bytes included, was written back');
    assert.ok(
      v.subarray(64).every((x) => x === 0xd2),
      'the other line keeps the BPU data',
    );
    assert.equal(deviceView(a)[0], 0, 'the BPU data of line A is lost in memory too');
  });

  test('7. flush acts on [phyAddr, phyAddr + memSize) widened to 64-byte lines', async () => {
    const a = alloc(1024, true);
    a.virAddr!.fill(0xee);
    a.memSize = 100; // the caller lowers memSize to the valid bytes: lines 0 and 1
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    const mem = deviceView(a, 1024);
    assert.ok(
      mem.subarray(0, 128).every((x) => x === 0xee),
      'bytes 0-127 (two lines) cleaned',
    );
    assert.ok(
      mem.subarray(128).every((x) => x === 0),
      'the rest stays dirty in the cache',
    );
    a.memSize = 1024;
    await emulator.bpu.fill(a.phyAddr, 0x01, 1024);
    a.memSize = 64;
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    const v = a.virAddr!;
    assert.ok(
      v.subarray(0, 64).every((x) => x === 0x01),
      'line 0 refilled',
    );
    assert.ok(
      v.subarray(64, 128).every((x) => x === 0xee),
      'line 1 not invalidated',
    );
  });

  test('7b. a range that starts mid-line is widened down to the line start', async () => {
    const owner = alloc(4096, false);
    const reg: hbSysMem = { phyAddr: owner.phyAddr + 100n, virAddr: null, memSize: 10 };
    assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
    reg.virAddr!.fill(9);
    // The CPU copy of bytes 64-99 is dirty too, because bytes 100-109 share their line.
    assert.equal(hbSysFlushMem(reg, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.ok(owner.virAddr!.subarray(100, 110).every((x) => x === 9));
  });

  test('8. two cached mappings of the same memory agree without any flush', () => {
    const a = alloc(8192, true);
    const reg: hbSysMem = { phyAddr: a.phyAddr + 4096n, virAddr: null, memSize: 4096 };
    assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
    a.virAddr![4096 + 5] = 0x99;
    assert.equal(reg.virAddr![5], 0x99, 'the registration sees the allocation write');
    reg.virAddr![7] = 0x98;
    assert.equal(a.virAddr![4096 + 7], 0x98, 'and the other way round');
    assert.equal(deviceView(a, 8192)[4096 + 5], 0, 'neither reached memory');
  });

  test('new memory reads as zeros through the CPU and the BPU, whatever was there', async () => {
    const a = alloc(4096, true);
    a.virAddr!.fill(0xff);
    await emulator.bpu.fill(a.phyAddr, 0xfe, 4096);
    const { phyAddr } = a;
    // Free and reallocate: the same block comes back.
    const { hbSysFreeMem } = await import('../../../src/index.js');
    assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    const b = alloc(4096, true);
    assert.equal(b.phyAddr, phyAddr);
    assert.ok(
      b.virAddr!.every((x) => x === 0),
      'CPU view zeroed',
    );
    assert.ok(
      deviceView(b).every((x) => x === 0),
      'physical memory zeroed',
    );
    assert.equal(hbSysFlushMem(b, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    assert.ok(
      b.virAddr!.every((x) => x === 0),
      'no stale dirty line comes back',
    );
  });

  test('after a first CLEAN, later flushes still write back only what the CPU wrote', async () => {
    // The first CLEAN lets the model keep each line's reference in memory; BPU writes must
    // still never be overwritten by lines the CPU did not touch, over many rounds.
    const a = alloc(16384, true);
    for (let round = 1; round <= 3; round++) {
      a.virAddr!.fill(round, 0, 4096); // CPU: first chunk
      assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
      await emulator.bpu.fill(a.phyAddr + 4096n + 64n, 0x80 + round, 64); // BPU: a line of chunk 2
      a.virAddr![8192] = round; // CPU: a line of chunk 3
      assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
      const mem = deviceView(a, 16384);
      assert.ok(
        mem.subarray(0, 4096).every((x) => x === round),
        `round ${round}: chunk 1`,
      );
      assert.ok(
        mem.subarray(4096 + 64, 4096 + 128).every((x) => x === 0x80 + round),
        `round ${round}: BPU line survives`,
      );
      assert.equal(mem[8192], round);
      assert.equal(
        a.virAddr![4096 + 64],
        round === 1 ? 0 : 0x80 + round - 1,
        'the CPU copy is stale until INVALIDATE',
      );
      assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
      assert.equal(a.virAddr![4096 + 64], 0x80 + round);
      assert.equal(a.virAddr![0], round);
    }
  });

  test('flush of uncached memory succeeds and changes nothing', async () => {
    const a = alloc(256, false);
    await emulator.bpu.fill(a.phyAddr, 3, 256);
    const before = emulator.stats();
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    assert.ok(a.virAddr!.every((x) => x === 3));
    assert.equal(emulator.stats().bytesWrittenBack, before.bytesWrittenBack);
  });
});

describe('cache model (coherent)', () => {
  beforeEach(() => smallMachine({ cacheModel: 'coherent' }));

  test('9. cached memory behaves as uncached', async () => {
    const a = alloc(256, true);
    const b = alloc(256, true);
    a.virAddr!.fill(0x12);
    await emulator.bpu.copy(b.phyAddr, a.phyAddr, 256);
    assert.ok(
      b.virAddr!.every((x) => x === 0x12),
      'no CLEAN and no INVALIDATE needed',
    );
    await emulator.bpu.fill(a.phyAddr, 0x34, 256);
    assert.ok(a.virAddr!.every((x) => x === 0x34));
    assert.equal(hbSysFlushMem(a, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
  });
});
