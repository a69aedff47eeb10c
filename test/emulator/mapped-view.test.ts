/**
 * The views handed out as virAddr (mapped-view.ts): Uint8Arrays to a program, whose crops
 * are known as part of their mapping at any depth and die with it.
 */

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysReadMem,
  hbSysWriteMem,
} from '../../src/index.js';

beforeEach(() => emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, pageSize: 4096 }));

function alloc(size: number, cached = false): hbSysMem {
  const mem = {} as hbSysMem;
  const code = (cached ? hbSysAllocCachedMem : hbSysAllocMem)(mem, size);
  assert.equal(code, HB_SYS_SUCCESS, hbSysGetLastError()?.message);
  return mem;
}

/** A sub-range mem: `virAddr.subarray(off, off + n)` at `phyAddr + off`. */
function crop(mem: hbSysMem, off: number, n: number): hbSysMem {
  return {
    phyAddr: mem.phyAddr + BigInt(off),
    virAddr: mem.virAddr!.subarray(off, off + n),
    memSize: n,
  };
}

test('virAddr is a Uint8Array to a program', () => {
  const mem = alloc(4096);
  const v = mem.virAddr!;
  assert.ok(v instanceof Uint8Array);
  assert.equal(Object.prototype.toString.call(v), '[object Uint8Array]');
  assert.equal(v.length, 4096);
  v.set([1, 2, 3], 10);
  v.fill(9, 100, 104);
  assert.deepEqual([...Buffer.from(v.buffer, v.byteOffset + 10, 3)], [1, 2, 3]);
  assert.deepEqual([...v.subarray(100, 104)], [9, 9, 9, 9]);
  assert.equal(Buffer.from(v.buffer, v.byteOffset, 4096).length, 4096);
  const copy = v.slice(10, 13);
  assert.deepEqual([...copy], [1, 2, 3]);
  // A copy is not a mapping.
  const bogus = { phyAddr: mem.phyAddr + 10n, virAddr: copy, memSize: 3 };
  assert.equal(hbSysWriteMem(bogus, new Uint8Array(1), 1), HB_SYS_INVALID_ARGUMENT);
  assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
});

test('a crop of a crop works where it lies, and dies with its mapping even after its address is reused', () => {
  const mem = alloc(8192, true);
  const outer = crop(mem, 1000, 4000);
  const inner = {
    phyAddr: outer.phyAddr + 500n,
    virAddr: outer.virAddr!.subarray(500, 600),
    memSize: 100,
  };
  assert.equal(hbSysWriteMem(inner, new Uint8Array(100).fill(7), 100), HB_SYS_SUCCESS);
  assert.equal(mem.virAddr![1500], 7);
  assert.equal(hbSysFlushMem(inner, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
  assert.equal(hbSysFreeMem(inner), HB_SYS_INVALID_ARGUMENT, 'a crop is not what alloc filled');
  const end = mem.virAddr!.subarray(8192);
  assert.equal(end.length, 0);
  assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  const next = alloc(8192, true);
  assert.equal(next.phyAddr, mem.phyAddr, 'the address went to a new owner');
  const out = new Uint8Array(100);
  assert.equal(hbSysReadMem(out, inner, 100), HB_SYS_INVALID_ARGUMENT);
  assert.match(hbSysGetLastError()!.message, /stale hbSysMem/);
  assert.equal(hbSysWriteMem(outer, new Uint8Array(1), 1), HB_SYS_INVALID_ARGUMENT);
  assert.ok(
    next.virAddr!.every((b) => b === 0),
    'the stale crops reached nothing',
  );
  assert.equal(hbSysFreeMem(next), HB_SYS_SUCCESS);
});

test("subarray's arguments run before the crop is made: a valueOf that allocates steals no tag", () => {
  const mem = alloc(4096);
  let other: hbSysMem | undefined;
  const begin = {
    valueOf() {
      other = alloc(4096);
      // A crop made while the outer one is being made.
      other.virAddr!.subarray(1);
      return 64;
    },
  };
  const c = mem.virAddr!.subarray(begin as unknown as number, 128);
  assert.equal(c.byteOffset, mem.virAddr!.byteOffset + 64);
  const sub = { phyAddr: mem.phyAddr + 64n, virAddr: c, memSize: 64 };
  assert.equal(hbSysWriteMem(sub, new Uint8Array(64).fill(3), 64), HB_SYS_SUCCESS);
  assert.equal(mem.virAddr![64], 3);
  assert.equal(hbSysFreeMem(other!), HB_SYS_SUCCESS);
  assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
  assert.equal(hbSysWriteMem(sub, new Uint8Array(1), 1), HB_SYS_INVALID_ARGUMENT);
});

test('a view of a machine replaced by a reset matches nothing in the new one', async () => {
  const old = alloc(4096);
  const oldCrop = crop(old, 64, 64);
  await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, pageSize: 4096 });
  const fresh = alloc(4096);
  assert.equal(fresh.phyAddr, old.phyAddr);
  assert.equal(hbSysWriteMem(old, new Uint8Array(4).fill(1), 4), HB_SYS_INVALID_ARGUMENT);
  assert.equal(hbSysWriteMem(oldCrop, new Uint8Array(4).fill(1), 4), HB_SYS_INVALID_ARGUMENT);
  assert.equal(hbSysFreeMem(old), HB_SYS_INVALID_ARGUMENT);
  assert.ok(fresh.virAddr!.every((b) => b === 0));
  assert.equal(hbSysFreeMem(fresh), HB_SYS_SUCCESS);
});

test('a view a program builds with the class of virAddr is a rebuilt pointer, not a tagged one', () => {
  const mem = alloc(4096);
  const Ctor = mem.virAddr!.constructor as new (
    b: ArrayBufferLike,
    o: number,
    n: number,
  ) => Uint8Array;
  const made = new Ctor(mem.virAddr!.buffer, mem.virAddr!.byteOffset, 4096);
  // As a mem rebuilt from its fields (new Uint8Array over the same memory): good while the
  // memory is live, as a pointer is on the board.
  assert.equal(hbSysFreeMem({ ...mem, virAddr: made }), HB_SYS_SUCCESS);
  assert.equal(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT, 'the handle alloc filled is stale now');
});

test('a setter of the mem that allocates again gets its own mapping, and the outer mem its own', () => {
  let inner: hbSysMem | undefined;
  const outer = {} as hbSysMem;
  let phyAddr = 0n;
  Object.defineProperty(outer, 'phyAddr', {
    configurable: true,
    enumerable: true,
    get: () => phyAddr,
    set: (v: bigint) => {
      phyAddr = v;
      if (inner === undefined) inner = alloc(8192);
    },
  });
  assert.equal(hbSysAllocMem(outer, 4096), HB_SYS_SUCCESS);
  assert.ok(inner !== undefined);
  assert.equal(outer.memSize, 4096);
  assert.equal(outer.virAddr!.length, 4096);
  assert.equal(inner.virAddr!.length, 8192);
  assert.notEqual(outer.phyAddr, inner.phyAddr);
  assert.equal(
    outer.virAddr!.byteOffset - inner.virAddr!.byteOffset,
    Number(outer.phyAddr - inner.phyAddr),
  );
  assert.equal(hbSysWriteMem(outer, new Uint8Array(4).fill(5), 4), HB_SYS_SUCCESS);
  assert.equal(hbSysFreeMem(outer), HB_SYS_SUCCESS);
  assert.equal(hbSysFreeMem(inner), HB_SYS_SUCCESS);
});
