/** Statistics by cost: the cheap counts on every backend, and the emulator's detailed scan. */

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { allocate, emulator, register } from '../../src/index.js';
import { emulatorDetailed, type MemoryStats, observeStats } from '../../src/observe/stats.js';
import { smallMachine } from '../helpers.js';

beforeEach(() => smallMachine());

test('fragmentation is 1 - largest free block / free bytes', () => {
  const a = allocate(4096 * 4);
  const b = allocate(4096 * 2);
  const c = allocate(4096);
  a.free();
  const s = emulatorDetailed();
  const free = (1 << 20) - 3 * 4096;
  assert.equal(s.bytesFree, free);
  assert.equal(s.freeBlockCount, 2);
  assert.equal(s.largestFreeBlock, free - 4 * 4096);
  assert.equal(s.fragmentation, 1 - (free - 4 * 4096) / free);
  b.free();
  c.free();
  const after = emulatorDetailed();
  assert.equal(after.freeBlockCount, 1);
  assert.equal(after.fragmentation, 0);
});

test('VIO use, registrations made and ended, findings by kind', () => {
  const frame = emulator.vio.alloc(5000);
  const reg = register(frame.phyAddr, 5000);
  let s = emulatorDetailed();
  assert.equal(s.vioSize, 1 << 20);
  assert.equal(s.vioBytesInUse, 8192);
  assert.equal(s.registrations, 1);
  assert.equal(s.unregistrations, 0);
  reg.free();
  s = emulatorDetailed();
  assert.equal(s.registrations, 1);
  assert.equal(s.unregistrations, 1);
  assert.equal(s.findings, 0);
  assert.ok(
    Object.values(s.findingsByKind).every((n) => n === 0),
    JSON.stringify(s.findingsByKind),
  );
});

test('the cheap counts agree with the detailed scan, and carry labels nowhere but the scan', () => {
  const a = allocate(100, { cached: true, label: 'input' });
  const b = allocate(5000, { label: 'input' });
  allocate(64).free();
  const frame = emulator.vio.alloc(4096);
  const reg = register(frame.phyAddr, 1000, { label: 'frame' });
  a.clean();
  b.invalidate();
  const cheap: MemoryStats = observeStats();
  const detailed = observeStats({ detailed: true });
  assert.equal(detailed.backend, 'emulator');
  for (const key of Object.keys(cheap) as (keyof MemoryStats)[]) {
    assert.equal(cheap[key], detailed[key], `${key}: counts and scan agree`);
  }
  assert.deepEqual(
    {
      allocationCount: cheap.allocationCount,
      bytesRequested: cheap.bytesRequested,
      bytesInUse: cheap.bytesInUse,
      registrationCount: cheap.registrationCount,
      allocs: cheap.allocs,
      frees: cheap.frees,
      cleans: cheap.cleans,
    },
    {
      allocationCount: 2,
      bytesRequested: 5100,
      bytesInUse: 4096 * 3,
      registrationCount: 1,
      allocs: 3,
      frees: 1,
      cleans: 1,
    },
  );
  assert.equal(Object.keys(cheap).includes('byLabel'), false);
  assert.deepEqual(
    { ...detailed.byLabel },
    {
      input: { allocations: 2, bytes: 5100, registrations: 0 },
      frame: { allocations: 0, bytes: 0, registrations: 1 },
    },
  );
  assert.equal(detailed.bytesRegistered, 1000);
  reg.free();
  a.free();
  b.free();
});

test('a label named __proto__ is a label like any other', () => {
  const a = allocate(64, { label: '__proto__' });
  const { byLabel } = observeStats({ detailed: true });
  assert.deepEqual(Object.getOwnPropertyDescriptor(byLabel, '__proto__')?.value, {
    allocations: 1,
    bytes: 64,
    registrations: 0,
  });
  assert.equal(({} as Record<string, unknown>).allocations, undefined);
  a.free();
});
