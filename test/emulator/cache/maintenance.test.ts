/** CLEAN and INVALIDATE on the strict model, across the span/chunk/line fast paths. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { clean, invalidate } from '../../../src/emulator/cache/index.js';
import { testRegion } from '../test-regions.js';

const SIZE = 1 << 20;

describe('cache maintenance', () => {
  it('writes back exactly the lines the CPU wrote; device writes to other lines survive', () => {
    const lines = SIZE / 64;
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(lines - 1), { maxLength: 60 }),
        fc.uniqueArray(fc.nat(lines - 1), { maxLength: 60 }),
        fc.nat(lines - 1),
        fc.nat(lines),
        (cpu, device, from, count) => {
          const r = testRegion('ion', 0, SIZE, 4096, true);
          const cpuSet = new Set(cpu);
          const dev = device.filter((l) => !cpuSet.has(l));
          for (const l of cpu) r.cache[l * 64 + 5] = 0xc0;
          for (const l of dev) r.memory[l * 64 + 7] = 0xde;
          const start = from * 64;
          const end = Math.min(SIZE, start + count * 64 + 1);
          clean(r, start, end);
          const inRange = (l: number) => l * 64 + 64 > start && l * 64 < end;
          for (const l of cpu) assert.equal(r.memory[l * 64 + 5], inRange(l) ? 0xc0 : 0);
          for (const l of dev) assert.equal(r.memory[l * 64 + 7], 0xde, 'device output lost');
          // INVALIDATE shows the device's bytes through the cache.
          invalidate(r, 0, SIZE);
          for (const l of dev) assert.equal(r.cache[l * 64 + 7], 0xde);
          for (const l of cpu) assert.equal(r.memory[l * 64 + 5], 0xc0);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('a CLEAN of untouched memory writes nothing back', () => {
    const r = testRegion('ion', 0, SIZE, 4096, true);
    r.memory.fill(9, 1000, 300_000);
    assert.equal(clean(r, 0, SIZE).writtenBack, 0);
    assert.equal(r.memory[2000], 9);
  });

  it('zero clears every plane, aligned or not', () => {
    const r = testRegion('ion', 0, 1 << 16, 64, true);
    for (const p of [r.memory, r.cache, r.shadow]) p.fill(1);
    r.zero(64, 128);
    r.zero(1001, 3);
    for (const p of [r.memory, r.cache, r.shadow]) {
      assert.equal(p[63], 1);
      assert.ok(p.subarray(64, 192).every((b) => b === 0));
      assert.equal(p[192], 1);
      assert.ok(p.subarray(1001, 1004).every((b) => b === 0));
      assert.equal(p[1004], 1);
    }
  });
});
