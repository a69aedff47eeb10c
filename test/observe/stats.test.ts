/** Statistics an observer adds: free blocks, fragmentation, VIO use, registrations. */

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { allocate, emulator, register } from '../../src/index.js';
import { observeStats } from '../../src/observe/stats.js';
import { smallMachine } from '../helpers.js';

beforeEach(() => smallMachine());

test('fragmentation is 1 - largest free block / free bytes', () => {
  const a = allocate(4096 * 4);
  const b = allocate(4096 * 2);
  const c = allocate(4096);
  a.free();
  const s = observeStats();
  const free = (1 << 20) - 3 * 4096;
  assert.equal(s.bytesFree, free);
  assert.equal(s.freeBlockCount, 2);
  assert.equal(s.largestFreeBlock, free - 4 * 4096);
  assert.equal(s.fragmentation, 1 - (free - 4 * 4096) / free);
  b.free();
  c.free();
  const after = observeStats();
  assert.equal(after.freeBlockCount, 1);
  assert.equal(after.fragmentation, 0);
});

test('VIO use, registrations made and ended, findings by kind', () => {
  const frame = emulator.vio.alloc(5000);
  const reg = register(frame.phyAddr, 5000);
  let s = observeStats();
  assert.equal(s.vioSize, 1 << 20);
  assert.equal(s.vioBytesInUse, 8192);
  assert.equal(s.registrations, 1);
  assert.equal(s.unregistrations, 0);
  reg.free();
  s = observeStats();
  assert.equal(s.registrations, 1);
  assert.equal(s.unregistrations, 1);
  assert.equal(s.findings, 0);
  assert.ok(
    Object.values(s.findingsByKind).every((n) => n === 0),
    JSON.stringify(s.findingsByKind),
  );
});
