/**
 * What users get wrong, function by function: each bad input gets its documented status
 * code, no call throws, and nothing changes (the mem object, the heap, the statistics).
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_OUT_OF_MEMORY,
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
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
} from '../../src/index.js';
import { newMem, smallMachine, snapshot } from '../helpers.js';

const I = HB_SYS_INVALID_ARGUMENT;

/** Values that are not an hbSysMem at all. */
const notMems: [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  ['a string', 'mem'],
  ['a bigint', 0x4000000n],
  ['a function', () => 0],
  ['a Uint8Array', new Uint8Array(8)],
];

interface World {
  live: hbSysMem;
  cachedLive: hbSysMem;
  freed: hbSysMem;
  staleCopy: hbSysMem;
  registered: hbSysMem;
  unregistered: hbSysMem;
  foreign: hbSysMem;
  frozenLive: hbSysMem;
}

let w: World;

before(async () => {
  await smallMachine({ maxAllocations: 16 });
  const live = newMem();
  hbSysAllocMem(live, 4096);
  const cachedLive = newMem();
  hbSysAllocCachedMem(cachedLive, 4096);
  const freed = newMem();
  hbSysAllocMem(freed, 4096);
  const staleCopy = { ...freed };
  hbSysFreeMem(freed);
  // The freed address goes to a new owner, which stale handles must not reach.
  hbSysAllocMem(newMem(), 4096);
  const registered = { phyAddr: live.phyAddr, memSize: 128 } as hbSysMem;
  hbSysRegisterMem(registered);
  const unregistered = { phyAddr: live.phyAddr + 1024n, memSize: 128 } as hbSysMem;
  hbSysRegisterMem(unregistered);
  hbSysUnregisterMem(unregistered);
  const foreign = { phyAddr: live.phyAddr, virAddr: new Uint8Array(4096), memSize: 4096 };
  const frozenLive = Object.freeze({ ...live });
  w = { live, cachedLive, freed, staleCopy, registered, unregistered, foreign, frozenLive };
});

/** Calls `fn` and checks the code, and that neither `mem` nor the machine changed. */
function expectNoChange(code: number, mem: unknown, call: () => number): void {
  const before = snapshot(mem);
  let got: number | undefined;
  assert.doesNotThrow(() => {
    got = call();
  });
  assert.equal(got, code);
  assert.equal(snapshot(mem), before, 'state changed on a failing call');
}

const sizes: [string, unknown][] = [
  ['0', 0],
  ['-1', -1],
  ['1.5', 1.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['2^32', 2 ** 32],
  ['a string', '16'],
  ['a bigint', 16n],
  ['undefined', undefined],
];

describe('hbSysAllocMem / hbSysAllocCachedMem', () => {
  for (const alloc of [hbSysAllocMem, hbSysAllocCachedMem]) {
    for (const [name, mem] of notMems) {
      test(`${alloc.name}: mem ${name} -> INVALID_ARGUMENT`, () => {
        expectNoChange(I, mem, () => alloc(mem as hbSysMem, 16));
      });
    }
    test(`${alloc.name}: a frozen object -> INVALID_ARGUMENT`, () => {
      const mem = Object.freeze({}) as hbSysMem;
      expectNoChange(I, mem, () => alloc(mem, 16));
    });
    test(`${alloc.name}: a sealed object without the fields -> INVALID_ARGUMENT`, () => {
      const mem = Object.seal({}) as hbSysMem;
      expectNoChange(I, mem, () => alloc(mem, 16));
    });
    for (const [name, size] of sizes) {
      test(`${alloc.name}: size ${name} -> INVALID_ARGUMENT`, () => {
        const mem = newMem();
        expectNoChange(I, mem, () => alloc(mem, size as number));
      });
    }
    test(`${alloc.name}: larger than the heap -> OUT_OF_MEMORY`, () => {
      const mem = newMem();
      expectNoChange(HB_SYS_OUT_OF_MEMORY, mem, () => alloc(mem, (1 << 20) + 1));
    });
  }
});

describe('hbSysFlushMem', () => {
  for (const [name, mem] of notMems) {
    test(`mem ${name} -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, mem, () => hbSysFlushMem(mem as hbSysMem, 2));
    });
  }
  for (const flag of [0, 3, -1, '2', 2.5, null, undefined, 1n]) {
    test(`flag ${String(flag)} -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, w.cachedLive, () => hbSysFlushMem(w.cachedLive, flag as HbSysFlushFlag));
    });
  }
  for (const which of ['freed', 'staleCopy', 'unregistered', 'foreign', '{}'] as const) {
    test(`a ${which} mem -> INVALID_ARGUMENT`, () => {
      const mem = which === '{}' ? {} : w[which];
      expectNoChange(I, mem, () => hbSysFlushMem(mem as hbSysMem, 2));
    });
  }
  test('a frozen copy of a live mem is fine: flush writes no field', () => {
    assert.equal(hbSysFlushMem(w.frozenLive, 2), HB_SYS_SUCCESS);
  });
});

describe('hbSysFreeMem', () => {
  for (const [name, mem] of notMems) {
    test(`mem ${name} -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, mem, () => hbSysFreeMem(mem as hbSysMem));
    });
  }
  for (const which of ['freed', 'staleCopy', 'registered', 'unregistered', 'foreign'] as const) {
    test(`a ${which} mem -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, w[which], () => hbSysFreeMem(w[which]));
    });
  }
  test('a frozen live mem -> INVALID_ARGUMENT (virAddr cannot be cleared)', () => {
    expectNoChange(I, w.frozenLive, () => hbSysFreeMem(w.frozenLive));
  });
  test('free writes virAddr alone: a read-only phyAddr or memSize does not stop it', () => {
    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocMem(mem, 64), 0);
    Object.defineProperty(mem, 'phyAddr', { writable: false });
    Object.defineProperty(mem, 'memSize', { writable: false });
    const live = emulator.stats().allocationCount;
    assert.equal(hbSysFreeMem(mem), 0);
    assert.equal(mem.virAddr, null);
    assert.equal(emulator.stats().allocationCount, live - 1);
  });
  test('a live mem whose virAddr is read-only -> INVALID_ARGUMENT, nothing freed', () => {
    const mem = {} as hbSysMem;
    assert.equal(hbSysAllocMem(mem, 64), 0);
    Object.defineProperty(mem, 'virAddr', { writable: false });
    const live = emulator.stats().allocationCount;
    expectNoChange(I, mem, () => hbSysFreeMem(mem));
    assert.match(hbSysGetLastError()!.message, /its fields cannot be set/);
    assert.equal(emulator.stats().allocationCount, live, 'nothing freed');
    assert.equal(hbSysFreeMem({ ...mem }), 0, 'a copy with a writable virAddr frees it');
  });
  test('a never-allocated address -> INVALID_ARGUMENT', () => {
    const mem = { phyAddr: 0x0400_8000n, virAddr: null, memSize: 16 };
    expectNoChange(I, mem, () => hbSysFreeMem(mem));
  });
  test('phyAddr as a number -> INVALID_ARGUMENT', () => {
    const mem = { ...w.live, phyAddr: Number(w.live.phyAddr) as unknown as bigint };
    expectNoChange(I, mem, () => hbSysFreeMem(mem));
  });
});

describe('hbSysWriteMem / hbSysReadMem', () => {
  const hosts: [string, unknown][] = [
    ['null', null],
    ['undefined', undefined],
    ['a number', 7],
    ['a string', 'bytes'],
    ['an array', [1, 2, 3]],
  ];
  for (const [name, mem] of notMems) {
    test(`mem ${name} -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, mem, () => hbSysWriteMem(mem as hbSysMem, new Uint8Array(4), 4));
      expectNoChange(I, mem, () => hbSysReadMem(new Uint8Array(4), mem as hbSysMem, 4));
    });
  }
  for (const [name, bytes] of hosts) {
    test(`host bytes ${name} -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, w.live, () => hbSysWriteMem(w.live, bytes as Uint8Array, 1));
      expectNoChange(I, w.live, () => hbSysReadMem(bytes as Uint8Array, w.live, 1));
    });
  }
  for (const [name, size] of sizes) {
    test(`size ${name} -> INVALID_ARGUMENT`, () => {
      const host = new Uint8Array(64);
      expectNoChange(I, w.live, () => hbSysWriteMem(w.live, host, size as number));
      expectNoChange(I, w.live, () => hbSysReadMem(host, w.live, size as number));
    });
  }
  for (const which of ['freed', 'staleCopy', 'unregistered', 'foreign'] as const) {
    test(`a ${which} mem -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, w[which], () => hbSysWriteMem(w[which], new Uint8Array(4), 4));
      expectNoChange(I, w[which], () => hbSysReadMem(new Uint8Array(4), w[which], 4));
    });
  }
  test('memSize set to garbage -> INVALID_ARGUMENT', () => {
    for (const memSize of [0, -1, 1.5, Number.NaN, '16', 4097]) {
      const mem = { ...w.live, memSize: memSize as number };
      expectNoChange(I, mem, () => hbSysWriteMem(mem, new Uint8Array(4), 4));
    }
  });
});

describe('hbSysRegisterMem / hbSysUnregisterMem', () => {
  for (const [name, mem] of notMems) {
    test(`mem ${name} -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, mem, () => hbSysRegisterMem(mem as hbSysMem));
      expectNoChange(I, mem, () => hbSysUnregisterMem(mem as hbSysMem));
    });
  }
  test('phyAddr as a number, missing, or negative -> INVALID_ARGUMENT', () => {
    for (const phyAddr of [Number(w.live.phyAddr), undefined, -1n, '0x4000000', 2n ** 64n]) {
      const mem = { phyAddr, memSize: 16 } as unknown as hbSysMem;
      expectNoChange(I, mem, () => hbSysRegisterMem(mem));
    }
  });
  for (const [name, size] of sizes) {
    test(`memSize ${name} -> INVALID_ARGUMENT`, () => {
      const mem = { phyAddr: w.live.phyAddr, memSize: size } as unknown as hbSysMem;
      expectNoChange(I, mem, () => hbSysRegisterMem(mem));
    });
  }
  test('a frozen mem -> INVALID_ARGUMENT (virAddr cannot be filled)', () => {
    const mem = Object.freeze({ phyAddr: w.live.phyAddr + 2048n, memSize: 16, virAddr: null });
    expectNoChange(I, mem, () => hbSysRegisterMem(mem));
  });
  test('an unknown range -> REGISTER_MEM_FAILED', () => {
    const mem = { phyAddr: 0x10n, memSize: 16 } as hbSysMem;
    expectNoChange(HB_SYS_REGISTER_MEM_FAILED, mem, () => hbSysRegisterMem(mem));
    const huge = { phyAddr: 2n ** 63n, memSize: 16 } as hbSysMem;
    expectNoChange(HB_SYS_REGISTER_MEM_FAILED, huge, () => hbSysRegisterMem(huge));
  });
  for (const which of ['live', 'freed', 'staleCopy', 'unregistered', 'foreign'] as const) {
    test(`unregister of a ${which} mem -> INVALID_ARGUMENT`, () => {
      expectNoChange(I, w[which], () => hbSysUnregisterMem(w[which]));
    });
  }
  test('the machine is as the setup left it', () => {
    const s = emulator.stats();
    assert.equal(s.allocationCount, 3);
    assert.equal(s.registrationCount, 1);
  });
});

describe('getters that throw do not make a function throw', () => {
  test('a hostile mem object gets INVALID_ARGUMENT', () => {
    const hostile = {
      get phyAddr(): bigint {
        throw new Error('boom');
      },
      get virAddr(): Uint8Array {
        throw new Error('boom');
      },
      memSize: 4,
    } as unknown as hbSysMem;
    for (const call of [
      () => hbSysFlushMem(hostile, 2),
      () => hbSysWriteMem(hostile, new Uint8Array(4), 4),
      () => hbSysReadMem(new Uint8Array(4), hostile, 4),
      () => hbSysRegisterMem(hostile),
    ]) {
      assert.equal(call(), I);
    }
  });
});
