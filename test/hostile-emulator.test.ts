/**
 * Hostile callers on the emulator backend: the case-by-case suite, and the emulator's own
 * part of it (the descriptor budget survives failed allocations).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_SUCCESS,
  hbSysAllocMem,
  hbSysFreeMem,
  type hbSysMem,
  useBackend,
} from '../src/index.js';
import { hostileContract } from './contract/hostile-contract.js';

hostileContract({
  name: 'emulator',
  async setup() {
    useBackend('emulator');
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20 });
  },
  externalBuffer(size) {
    const { phyAddr } = emulator.vio.alloc(size);
    return { phyAddr, size, free: () => emulator.vio.free(phyAddr) };
  },
  liveCounts() {
    const s = emulator.stats();
    return { allocations: s.allocationCount, registrations: s.registrationCount };
  },
  refusesStaleViews: false,
});

test('failed allocations never spend the descriptor budget', async () => {
  useBackend('emulator');
  await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, maxAllocations: 4 });
  const frozenProto = Object.freeze({ phyAddr: 0n, virAddr: null, memSize: 0 });
  for (let i = 0; i < 20; i++) {
    assert.equal(hbSysAllocMem(Object.create(frozenProto), 64), HB_SYS_INVALID_ARGUMENT);
  }
  const s = emulator.stats();
  assert.equal(s.allocationCount, 0);
  assert.equal(s.allocs, 0, 'no allocation was counted');
  assert.equal(s.bytesFree, s.heapSize);
  const mems: hbSysMem[] = [];
  for (let i = 0; i < 4; i++) {
    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocMem(mem, 64), HB_SYS_SUCCESS, 'the whole budget is still there');
    mems.push(mem);
  }
  for (const mem of mems) assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
});
