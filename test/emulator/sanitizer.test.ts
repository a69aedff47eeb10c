/**
 * The sanitizer, kind by kind: a small buggy program that must produce exactly that kind of
 * finding, and its corrected twin that must produce none.
 */

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import {
  allocate,
  emulator,
  type FindingKind,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_MEM_CACHE_INVALIDATE,
  HB_SYS_SUCCESS,
  HbSysSanitizerError,
  hbSysAllocCachedMem,
  hbSysAllocMem,
  hbSysFlushMem,
  hbSysFreeMem,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { freeAll, sanitized } from '../sanitizer/programs.js';

function kinds(): FindingKind[] {
  return [...new Set(emulator.findings().map((f) => f.kind))];
}

function cachedMem(size: number): hbSysMem {
  const m = {} as hbSysMem;
  assert.equal(hbSysAllocCachedMem(m, size), HB_SYS_SUCCESS);
  return m;
}

function uncachedMem(size: number): hbSysMem {
  const m = {} as hbSysMem;
  assert.equal(hbSysAllocMem(m, size), HB_SYS_SUCCESS);
  return m;
}

/** A buggy program and its corrected twin. */
interface Case {
  kind: FindingKind;
  buggy: () => Promise<void> | void;
  fixed: () => Promise<void> | void;
}

const cases: Case[] = [
  {
    kind: 'device-read-dirty',
    async buggy() {
      const input = cachedMem(256);
      const output = uncachedMem(256);
      input.virAddr!.fill(1);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      freeAll(input, output);
    },
    async fixed() {
      const input = cachedMem(256);
      const output = uncachedMem(256);
      input.virAddr!.fill(1);
      hbSysFlushMem(input, HB_SYS_MEM_CACHE_CLEAN);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      freeAll(input, output);
    },
  },
  {
    kind: 'cpu-read-stale',
    async buggy() {
      const out = cachedMem(256);
      await emulator.bpu.fill(out.phyAddr, 9, 256);
      const host = new Uint8Array(256);
      hbSysReadMem(host, out, 256);
      freeAll(out);
    },
    async fixed() {
      const out = cachedMem(256);
      await emulator.bpu.fill(out.phyAddr, 9, 256);
      hbSysFlushMem(out, HB_SYS_MEM_CACHE_INVALIDATE);
      const host = new Uint8Array(256);
      hbSysReadMem(host, out, 256);
      assert.equal(host[0], 9);
      freeAll(out);
    },
  },
  {
    kind: 'write-conflict',
    async buggy() {
      const buf = cachedMem(256);
      buf.virAddr!.fill(1, 0, 64);
      await emulator.bpu.fill(buf.phyAddr, 2, 256);
      hbSysFlushMem(buf, HB_SYS_MEM_CACHE_INVALIDATE);
      freeAll(buf);
    },
    async fixed() {
      const buf = cachedMem(256);
      buf.virAddr!.fill(1, 0, 64);
      hbSysFlushMem(buf, HB_SYS_MEM_CACHE_CLEAN);
      await emulator.bpu.fill(buf.phyAddr, 2, 256);
      hbSysFlushMem(buf, HB_SYS_MEM_CACHE_INVALIDATE);
      freeAll(buf);
    },
  },
  {
    kind: 'invalidate-dirty',
    async buggy() {
      // Flags swapped: INVALIDATE where CLEAN was meant.
      const input = cachedMem(256);
      const output = uncachedMem(256);
      input.virAddr!.fill(5);
      hbSysFlushMem(input, HB_SYS_MEM_CACHE_INVALIDATE);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      freeAll(input, output);
    },
    async fixed() {
      const input = cachedMem(256);
      const output = uncachedMem(256);
      input.virAddr!.fill(5);
      hbSysFlushMem(input, HB_SYS_MEM_CACHE_CLEAN);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      freeAll(input, output);
    },
  },
  {
    kind: 'double-free',
    buggy() {
      const m = uncachedMem(64);
      hbSysFreeMem(m);
      assert.equal(hbSysFreeMem(m), HB_SYS_INVALID_ARGUMENT);
    },
    fixed() {
      const m = uncachedMem(64);
      hbSysFreeMem(m);
    },
  },
  {
    kind: 'double-free',
    buggy() {
      // Through a copy, after the address went to someone else.
      const m = uncachedMem(64);
      const copy = { ...m };
      hbSysFreeMem(m);
      const other = uncachedMem(64);
      assert.equal(hbSysFreeMem(copy), HB_SYS_INVALID_ARGUMENT);
      assert.equal(emulator.stats().allocationCount, 1, 'the new owner keeps its memory');
      freeAll(other);
    },
    fixed() {
      const m = uncachedMem(64);
      hbSysFreeMem(m);
      freeAll(uncachedMem(64));
    },
  },
  {
    kind: 'invalid-free',
    buggy() {
      const m = { phyAddr: 0x0400_0000n, virAddr: new Uint8Array(64), memSize: 64 };
      assert.equal(hbSysFreeMem(m), HB_SYS_INVALID_ARGUMENT);
    },
    fixed() {
      freeAll(uncachedMem(64));
    },
  },
  {
    kind: 'free-registered',
    buggy() {
      const owner = uncachedMem(4096);
      const reg = { phyAddr: owner.phyAddr, memSize: 64 } as hbSysMem;
      hbSysRegisterMem(reg);
      assert.equal(hbSysFreeMem(reg), HB_SYS_INVALID_ARGUMENT);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
    fixed() {
      const owner = uncachedMem(4096);
      const reg = { phyAddr: owner.phyAddr, memSize: 64 } as hbSysMem;
      hbSysRegisterMem(reg);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
  },
  {
    kind: 'unregister-allocated',
    buggy() {
      const m = uncachedMem(64);
      assert.equal(hbSysUnregisterMem(m), HB_SYS_INVALID_ARGUMENT);
      freeAll(m);
    },
    fixed() {
      freeAll(uncachedMem(64));
    },
  },
  {
    kind: 'stale-handle',
    buggy() {
      const m = cachedMem(64);
      const copy = { ...m };
      hbSysFreeMem(m);
      assert.equal(hbSysWriteMem(copy, new Uint8Array(4), 4), HB_SYS_INVALID_ARGUMENT);
      assert.equal(hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
    },
    fixed() {
      const m = cachedMem(64);
      hbSysWriteMem(m, new Uint8Array(4), 4);
      hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
      hbSysFreeMem(m);
    },
  },
  {
    kind: 'device-out-of-bounds',
    async buggy() {
      const m = uncachedMem(64);
      const { phyAddr } = m;
      hbSysFreeMem(m);
      await assert.rejects(emulator.bpu.fill(phyAddr, 0, 64));
    },
    async fixed() {
      const m = uncachedMem(64);
      await emulator.bpu.fill(m.phyAddr, 0, 64);
      hbSysFreeMem(m);
    },
  },
  {
    kind: 'in-flight',
    async buggy() {
      const a = uncachedMem(1 << 16);
      const b = uncachedMem(1 << 16);
      a.virAddr!.fill(1);
      const job = emulator.bpu.copy(b.phyAddr, a.phyAddr, 1 << 16);
      freeAll(a); // the job still reads it
      await job;
      freeAll(b);
    },
    async fixed() {
      const a = uncachedMem(1 << 16);
      const b = uncachedMem(1 << 16);
      a.virAddr!.fill(1);
      await emulator.bpu.copy(b.phyAddr, a.phyAddr, 1 << 16);
      freeAll(a, b);
    },
  },
  {
    kind: 'leak',
    async buggy() {
      uncachedMem(100);
      await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'report' });
    },
    async fixed() {
      freeAll(uncachedMem(100));
      await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'report' });
    },
  },
  {
    kind: 'redundant-flush',
    buggy() {
      const m = uncachedMem(64);
      hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
      freeAll(m);
    },
    fixed() {
      const m = cachedMem(64);
      m.virAddr![0] = 1;
      hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
      freeAll(m);
    },
  },
];

describe('each kind: the buggy program finds exactly it, the fixed twin finds nothing', () => {
  beforeEach(() => sanitized());
  for (const [i, c] of cases.entries()) {
    test(`${c.kind} (#${i + 1}): buggy`, async () => {
      await c.buggy();
      assert.deepEqual(kinds(), [c.kind], emulator.report());
      const f = emulator.findings()[0]!;
      assert.equal(typeof f.phyAddr, 'bigint');
      assert.ok(f.size > 0 || c.kind === 'invalid-free');
      assert.match(f.message, /0x[0-9a-f]{8}/, 'the message names an address');
    });
    test(`${c.kind} (#${i + 1}): fixed`, async () => {
      await c.fixed();
      assert.deepEqual(emulator.findings(), [], emulator.report());
    });
  }
});

describe('cpu-read-stale through every CPU read path', () => {
  beforeEach(() => sanitized());

  test('buffer.read, buffer.bytes, buffer.view and a fresh read of mem.virAddr', async () => {
    using out = allocate(128, { cached: true, label: 'logits' });
    await emulator.bpu.fill(out.phyAddr, 3, 128);
    const reads: [string, () => unknown][] = [
      ['read', () => out.read()],
      ['bytes', () => out.bytes[0]],
      ['view', () => out.view(Int8Array)[0]],
      ['virAddr', () => out.mem.virAddr![0]],
    ];
    for (const [name, read] of reads) {
      emulator.clearFindings();
      read();
      // A pointer taken (bytes, view, virAddr) is checked when the synchronous run ends.
      await Promise.resolve();
      assert.deepEqual(kinds(), ['cpu-read-stale'], name);
      assert.equal(emulator.findings()[0]!.label, 'logits');
    }
    emulator.clearFindings();
    out.invalidate();
    assert.equal(out.read()[0], 3);
    assert.equal(out.mem.virAddr![5], 3);
    assert.deepEqual(emulator.findings(), []);
  });

  test('a camera frame read through its registration before INVALIDATE', async () => {
    const frame = emulator.vio.alloc(4096);
    emulator.vio.write(frame.phyAddr, new Uint8Array(4096).fill(0x80));
    const reg = { phyAddr: frame.phyAddr, memSize: 4096 } as hbSysMem;
    hbSysRegisterMem(reg);
    const y = reg.virAddr![0];
    assert.equal(y, 0, 'stale, as on a board without INVALIDATE');
    await Promise.resolve();
    assert.deepEqual(kinds(), ['cpu-read-stale']);
    emulator.clearFindings();
    hbSysFlushMem(reg, HB_SYS_MEM_CACHE_INVALIDATE);
    assert.equal(reg.virAddr![0], 0x80);
    hbSysUnregisterMem(reg);
    emulator.vio.free(frame.phyAddr);
    assert.deepEqual(emulator.findings(), []);
  });

  test('uncached memory is never stale', async () => {
    const m = uncachedMem(64);
    await emulator.bpu.fill(m.phyAddr, 4, 64);
    assert.equal(m.virAddr![0], 4);
    hbSysReadMem(new Uint8Array(64), m, 64);
    freeAll(m);
    assert.deepEqual(emulator.findings(), []);
  });
});

describe('modes and details', () => {
  test('off: nothing is recorded, whatever the program does', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'off' });
    emulator.clearFindings();
    const m = uncachedMem(64);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    hbSysFreeMem(m);
    hbSysFreeMem(m);
    assert.deepEqual(emulator.findings(), []);
  });

  test('throw: the call that reveals a hazard throws, before anything changes', async () => {
    await sanitized('throw');
    const input = cachedMem(256);
    const output = uncachedMem(256);
    input.virAddr!.fill(1);
    await assert.rejects(emulator.bpu.copy(output.phyAddr, input.phyAddr, 256), (e: unknown) => {
      assert.ok(e instanceof HbSysSanitizerError);
      assert.equal(e.finding.kind, 'device-read-dirty');
      assert.match(e.message, /HB_SYS_MEM_CACHE_CLEAN/);
      return true;
    });
    assert.equal(emulator.stats().bpuJobs, 0, 'the job did not run');
    assert.throws(() => hbSysFlushMem(output, HB_SYS_MEM_CACHE_CLEAN), HbSysSanitizerError);
    // Invalid arguments still return their code in throw mode.
    hbSysFlushMem(input, HB_SYS_MEM_CACHE_CLEAN);
    assert.equal(hbSysFreeMem(input), HB_SYS_SUCCESS);
    assert.equal(hbSysFreeMem(input), HB_SYS_INVALID_ARGUMENT);
    assert.deepEqual(kinds(), ['device-read-dirty', 'redundant-flush', 'double-free']);
    freeAll(output);
  });

  test('stacks: allocation and free stacks appear in findings', async () => {
    await sanitized('report', true);
    const m = uncachedMem(64);
    hbSysFreeMem(m);
    hbSysFreeMem(m);
    const f = emulator.findings()[0]!;
    assert.equal(f.kind, 'double-free');
    // hbsys's own frames are left out, compiled or mapped back to src/ by source maps: the
    // first frame shown is the caller's.
    const top = (stack: string | undefined) => (stack ?? '').split('\n')[0];
    assert.match(top(f.allocStack), /sanitizer\.test\.[jt]s/);
    assert.match(top(f.freeStack), /sanitizer\.test\.[jt]s/);
    assert.match(top(f.stack), /sanitizer\.test\.[jt]s/);
    assert.match(emulator.report(), /freed at:/);
  });

  test('leaks name address, size and label', async () => {
    await sanitized();
    allocate(1000, { label: 'forgotten' });
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'report' });
    const [leak] = emulator.findings();
    assert.equal(leak?.kind, 'leak');
    assert.equal(leak?.label, 'forgotten');
    assert.equal(leak?.size, 1000);
    assert.match(leak!.message, /1000 bytes of uncached BPU memory at 0x04000000 \('forgotten'\)/);
  });

  test('throw mode records every leak at reset, and reset does not throw', async () => {
    await sanitized('throw');
    allocate(100);
    allocate(200);
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'throw' });
    assert.deepEqual(
      emulator.findings().map((f) => [f.kind, f.size]),
      [
        ['leak', 100],
        ['leak', 200],
      ],
    );
  });

  test('findingsByKind in stats', async () => {
    await sanitized();
    const m = uncachedMem(64);
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN);
    assert.equal(emulator.stats().findingsByKind['redundant-flush'], 1);
    assert.equal(emulator.stats().findingsByKind.leak, 0);
    freeAll(m);
  });
});
