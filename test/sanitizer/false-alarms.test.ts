/**
 * Correct C habits that the sanitizer must not report: taking `virAddr` before the
 * INVALIDATE, copying the struct, and sub-range structs (crops) that lie inside their
 * allocation, which every call accepts as the board does. And what stays checked: stale
 * reads through a copy, sub-ranges that leave their allocation.
 */

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import {
  allocate,
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_SUCCESS,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysReadMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { kinds, mem, sanitized } from './programs.js';

/** A cached output the BPU wrote (7s), not yet INVALIDATEd. */
async function bpuOutput(size = 256): Promise<{ input: hbSysMem; output: hbSysMem }> {
  const input = mem(size, false);
  const output = mem(size, true);
  input.virAddr!.fill(7);
  await emulator.bpu.copy(output.phyAddr, input.phyAddr, size);
  return { input, output };
}

describe('taking a pointer is not a read', () => {
  beforeEach(() => sanitized());

  test('const out = mem.virAddr; INVALIDATE; use(out)', async () => {
    const { input, output } = await bpuOutput();
    const out = output.virAddr!;
    hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
    assert.equal(out[0], 7);
    hbSysFreeMem(input);
    hbSysFreeMem(output);
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test('{ ...mem } before the INVALIDATE, then reads through the copy', async () => {
    const { input, output } = await bpuOutput();
    const copy = { ...output };
    hbSysFlushMem(copy, HB_SYS_MEM_CACHE_INVALIDATE);
    assert.equal(copy.virAddr![3], 7);
    const host = new Uint8Array(16);
    assert.equal(hbSysReadMem(host, copy, 16), HB_SYS_SUCCESS);
    assert.equal(host[0], 7);
    hbSysFreeMem(input);
    hbSysFreeMem(output);
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test("a buffer's view taken before its INVALIDATE", async () => {
    using input = allocate(256);
    using output = allocate(256, { cached: true });
    input.write(new Uint8Array(256).fill(4));
    await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
    const scores = output.view(Uint8Array);
    output.invalidate();
    assert.equal(scores[0], 4);
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test('hobot_dnn: the output pointers taken at allocation, before any job', async () => {
    const input = mem(256, false);
    const output = mem(256, true);
    const out = output.virAddr!;
    input.virAddr!.fill(9);
    for (let frame = 0; frame < 3; frame++) {
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
      assert.equal(out[255], 9);
    }
    hbSysFreeMem(input);
    hbSysFreeMem(output);
    assert.deepEqual(await kinds(), [], emulator.report());
  });
});

describe('struct copies are checked where they are used', () => {
  beforeEach(() => sanitized());

  test('a stale read through a copy with hbSysReadMem is found', async () => {
    const { input, output } = await bpuOutput();
    const copy = { ...output };
    hbSysReadMem(new Uint8Array(16), copy, 16);
    hbSysFreeMem(input);
    hbSysFreeMem(output);
    assert.deepEqual(await kinds(), ['cpu-read-stale']);
  });

  test('a raw read through a copy taken while stale, never INVALIDATEd, is found', async () => {
    const { input, output } = await bpuOutput();
    const copy = { ...output };
    assert.equal(copy.virAddr![0], 0xa5, 'the CPU still sees its own copy');
    assert.deepEqual(await kinds(), ['cpu-read-stale']);
    hbSysFreeMem(input);
    hbSysFreeMem(output);
  });
});

describe('sub-range mems (crops) work as on the board', () => {
  beforeEach(() => sanitized());

  function crop(parent: hbSysMem, off: number, size: number): hbSysMem {
    return {
      phyAddr: parent.phyAddr + BigInt(off),
      virAddr: parent.virAddr!.subarray(off),
      memSize: size,
    };
  }

  test('flush, write, read and the BPU act on the sub-range only', async () => {
    const parent = mem(4096, true);
    const c = crop(parent, 1024, 512);
    assert.equal(hbSysWriteMem(c, new Uint8Array(512).fill(3), 512), HB_SYS_SUCCESS);
    parent.virAddr![0] = 1; // a line outside the crop, written and not CLEANed
    assert.equal(hbSysFlushMem(c, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    const memory = emulator.peek(parent.phyAddr, 4096);
    assert.equal(memory[1024], 3, 'the crop reached memory');
    assert.equal(memory[0], 0, 'the CLEAN of the crop left the rest of the allocation alone');
    const out = mem(512, false);
    await emulator.bpu.copy(out.phyAddr, c.phyAddr, 512);
    assert.equal(out.virAddr![511], 3);
    await emulator.bpu.fill(c.phyAddr, 8, 512);
    assert.equal(hbSysFlushMem(c, HB_SYS_MEM_CACHE_INVALIDATE), HB_SYS_SUCCESS);
    const host = new Uint8Array(512);
    assert.equal(hbSysReadMem(host, c, 512), HB_SYS_SUCCESS);
    assert.equal(host[0], 8);
    assert.equal(parent.virAddr![0], 1, 'the line outside the crop kept the CPU write');
    hbSysFlushMem(parent, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFreeMem(out);
    hbSysFreeMem(parent);
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test('a crop that leaves its allocation is refused, with what to do', () => {
    const parent = mem(4096, true);
    const tooLong = crop(parent, 4000, 200);
    assert.equal(hbSysFlushMem(tooLong, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /sub-range starts 4000 bytes .* must end inside it/);
    const moved = { ...crop(parent, 64, 64), phyAddr: parent.phyAddr };
    assert.equal(hbSysWriteMem(moved, new Uint8Array(4), 4), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /for a sub-range set phyAddr = 0x[0-9a-f]{8} \+ 64/);
    assert.equal(hbSysFreeMem(crop(parent, 64, 64)), HB_SYS_INVALID_ARGUMENT);
    assert.match(hbSysGetLastError()!.message, /a sub-range mem, which cannot be freed/);
    assert.equal(hbSysUnregisterMem(crop(parent, 64, 64)), HB_SYS_INVALID_ARGUMENT);
    assert.equal(emulator.stats().allocationCount, 1, 'nothing was freed');
    hbSysFreeMem(parent);
  });

  test('a crop of freed memory is a stale handle, even after the address is reused', async () => {
    const parent = mem(4096, false);
    const c = crop(parent, 128, 64);
    hbSysFreeMem(parent);
    const next = mem(4096, false);
    assert.equal(next.phyAddr, parent.phyAddr);
    assert.equal(hbSysWriteMem(c, new Uint8Array([1]), 1), HB_SYS_INVALID_ARGUMENT);
    assert.equal(next.virAddr![128], 0, "the next owner's memory is untouched");
    assert.deepEqual(await kinds(), ['stale-handle']);
    hbSysFreeMem(next);
  });

  test('crops work with the sanitizer off too', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const parent = mem(4096, true);
    const c = crop(parent, 2048, 64);
    assert.equal(hbSysWriteMem(c, new Uint8Array(64).fill(9), 64), HB_SYS_SUCCESS);
    assert.equal(hbSysFlushMem(c, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    assert.equal(emulator.peek(parent.phyAddr + 2048n, 1)[0], 9);
    assert.equal(hbSysFreeMem(c), HB_SYS_INVALID_ARGUMENT);
    assert.equal(hbSysFreeMem(parent), HB_SYS_SUCCESS);
  });

  test('a crop of a crop', () => {
    const parent = mem(4096, false);
    const inner = { ...crop(crop(parent, 256, 1024), 0, 0) };
    inner.phyAddr = parent.phyAddr + 512n;
    inner.virAddr = parent.virAddr!.subarray(256).subarray(256);
    inner.memSize = 16;
    assert.equal(hbSysWriteMem(inner, new Uint8Array(16).fill(6), 16), HB_SYS_SUCCESS);
    assert.equal(parent.virAddr![512], 6);
    hbSysFreeMem(parent);
  });
});
