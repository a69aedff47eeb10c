/** The heap dump: every block and gap, what owns it, and the documented schema. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { beforeEach, describe, test } from 'node:test';
import { allocate, emulator, register } from '../../src/index.js';
import {
  type DumpBlock,
  type DumpRegion,
  dumpHeap,
  type HeapDump,
} from '../../src/observe/dump.js';
import { smallMachine } from '../helpers.js';

/** Blocks of a region tile it: address order, no gap, no overlap, no two adjacent free. */
function assertTiles(region: DumpRegion): void {
  let at = Number(region.base);
  let prevFree = false;
  for (const b of region.blocks) {
    assert.equal(
      Number(b.phyAddr),
      at,
      `block at ${b.phyAddr} should start at 0x${at.toString(16)}`,
    );
    assert.equal(b.blockBytes % region.pageSize, 0);
    if (b.size !== null) assert.ok(b.size <= b.blockBytes, 'size is the bytes asked for');
    assert.ok(!(prevFree && b.kind === 'free'), 'two adjacent free blocks');
    prevFree = b.kind === 'free';
    at += b.blockBytes;
  }
  assert.equal(at, Number(region.base) + region.size);
}

describe('dumpHeap', () => {
  beforeEach(() => smallMachine());

  test('an empty machine is one free block per region', () => {
    const d = dumpHeap();
    assert.equal(d.format, 'hbsys-heap-dump');
    assert.equal(d.version, 2);
    assert.equal(d.backend, 'emulator');
    assert.deepEqual(d.mappings, []);
    assert.deepEqual(
      d.regions.map((r) => [r.name, r.base, r.size, r.blocks.length, r.blocks[0]!.kind]),
      [
        ['ion', '0x04000000', 1 << 20, 1, 'free'],
        ['vio', '0x10000000', 1 << 20, 1, 'free'],
      ],
    );
  });

  test('allocations, gaps, VIO buffers and registrations, in address order', () => {
    const a = allocate(100, { cached: true, label: 'a' });
    const b = allocate(5000, { label: 'b' });
    const c = allocate(4096, { cached: true });
    b.free();
    const frame = emulator.vio.alloc(6000);
    const reg = register(frame.phyAddr + 4096n, 1000, { label: 'crop' });
    const d: HeapDump = dumpHeap();
    const [ion, vio] = d.regions as [DumpRegion, DumpRegion];
    assertTiles(ion);
    assertTiles(vio);
    const summary = (blocks: DumpBlock[]) =>
      blocks.map((x) => [x.kind, x.phyAddr, x.blockBytes, x.size, x.cached, x.label]);
    assert.deepEqual(summary(ion.blocks), [
      ['allocation', '0x04000000', 4096, 100, true, 'a'],
      ['free', '0x04001000', 8192, null, null, null],
      ['allocation', '0x04003000', 4096, 4096, true, null],
      ['free', '0x04004000', (1 << 20) - 0x4000, null, null, null],
    ]);
    assert.deepEqual(summary(vio.blocks).slice(0, 1), [
      ['vio', '0x10000000', 8192, 6000, true, null],
    ]);
    // The registration's own label, not its owner's.
    assert.deepEqual(
      vio.blocks[0]!.registrations.map((r) => [r.phyAddr, r.size, r.label]),
      [['0x10001000', 1000, 'crop']],
    );
    // One clock: ms since the process started, for the dump and every time in it.
    const reg0 = vio.blocks[0]!.registrations[0]!;
    assert.ok(reg0.registeredAtMs > 0 && reg0.registeredAtMs <= d.takenAtMs);
    assert.ok(d.machineStartedAtMs! <= d.takenAtMs && d.takenAtMs <= performance.now());
    for (const blk of ion.blocks) {
      if (blk.kind === 'free') assert.equal(blk.allocatedAtMs, null);
      else
        assert.ok(blk.allocatedAtMs! >= d.machineStartedAtMs! && blk.allocatedAtMs! <= d.takenAtMs);
    }
    // Every live allocation, VIO buffer and registration, in address order.
    assert.deepEqual(
      d.mappings.map((m) => [m.kind, m.phyAddr, m.size, m.blockBytes, m.label]),
      [
        ['allocation', '0x04000000', 100, 4096, 'a'],
        ['allocation', '0x04003000', 4096, 4096, null],
        ['vio', '0x10000000', 6000, 8192, null],
        ['registration', '0x10001000', 1000, null, 'crop'],
      ],
    );
    assert.equal(d.stats.allocationCount, 2);
    assert.equal(d.stats.registrationCount, 1);
    assert.equal(d.stats.backend, 'emulator');
    if (d.stats.backend === 'emulator') assert.equal(d.stats.freeBlockCount, 2);
    // JSON round trip loses nothing: the dump is plain data.
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    reg.free();
    a.free();
    c.free();
  });

  test('allocation stacks appear when stacks are recorded', async () => {
    await smallMachine({ stacks: true });
    const a = allocate(64, { label: 'with stack' });
    const blk = dumpHeap().regions[0]!.blocks[0]!;
    assert.match(blk.allocStack ?? '', /dump\.test\.[jt]s/);
    a.free();
  });
});

describe('docs/dump-schema.md', () => {
  const doc = readFileSync(new URL('../../../docs/dump-schema.md', import.meta.url), 'utf8');

  /** The field names of the table under the heading `## title`. */
  function documented(title: string): string[] {
    const section = doc.split(/^## /m).find((s) => s.startsWith(title));
    assert.ok(section, `section ${title}`);
    return [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]!);
  }

  test('documents exactly the fields a dump has', async () => {
    await smallMachine();
    const frame = emulator.vio.alloc(4096);
    const reg = register(frame.phyAddr, 4096);
    const d = dumpHeap();
    const vioBlock = d.regions[1]!.blocks[0]!;
    assert.deepEqual(documented('Top level').sort(), Object.keys(d).sort());
    assert.deepEqual(documented('Mapping').sort(), Object.keys(d.mappings[0]!).sort());
    assert.deepEqual(documented('Region').sort(), Object.keys(d.regions[0]!).sort());
    assert.deepEqual(documented('Block').sort(), Object.keys(vioBlock).sort());
    assert.deepEqual(
      documented('Registration').sort(),
      Object.keys(vioBlock.registrations[0]!).sort(),
    );
    reg.free();
  });

  test('lists every statistic', async () => {
    await smallMachine();
    const section = doc.split(/^## /m).find((s) => s.startsWith('Statistics'))!;
    const named = new Set([...section.matchAll(/`(\w+)`/g)].map((m) => m[1]!));
    for (const key of Object.keys(dumpHeap().stats))
      assert.ok(named.has(key), `stat ${key} is not documented`);
  });
});
