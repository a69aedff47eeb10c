/**
 * Bugs of real pipelines the sanitizer must see, each a buggy program that produces its
 * finding and a fixed twin that produces none: a CPU write of unchanged bytes, the CPU
 * touching memory of a job in flight, uninitialized input, a stale cached alias, and
 * failures that a program may ignore.
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
  HB_SYS_REGISTER_MEM_FAILED,
  HB_SYS_SUCCESS,
  HbSysSanitizerError,
  hbSysFlushMem,
  type hbSysMem,
  hbSysReadMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { freeAll, kinds, mem, sanitized } from './programs.js';

interface Twin {
  name: string;
  kind: FindingKind;
  buggy: () => Promise<void> | void;
  fixed: () => Promise<void> | void;
}

const twins: Twin[] = [
  {
    name: 'a fresh cached output set to 0 (its bytes unchanged) and never CLEANed',
    kind: 'write-conflict',
    async buggy() {
      const input = mem(256, false);
      const output = mem(256, true);
      input.virAddr!.fill(7);
      output.virAddr!.fill(0); // hobot_dnn's memset of a fresh output tensor
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
      // As on the board: the write-back of the CPU's zeros clobbered the BPU's result.
      assert.equal(output.virAddr![0], 0);
      freeAll(input, output);
    },
    async fixed() {
      const input = mem(256, false);
      const output = mem(256, true);
      input.virAddr!.fill(7);
      output.virAddr!.fill(0);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_CLEAN);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 256);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
      assert.equal(output.virAddr![0], 7);
      freeAll(input, output);
    },
  },
  {
    name: 'hbSysWriteMem of the bytes a cached line already holds, never CLEANed',
    kind: 'write-conflict',
    async buggy() {
      const input = mem(128, false);
      const output = mem(128, true);
      input.virAddr!.fill(3);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE); // the CPU copy is memory's zeros
      hbSysWriteMem(output, new Uint8Array(128), 128); // zeros over zeros: still a store
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 128);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
      assert.equal(output.virAddr![0], 0, 'the write-back clobbered the BPU result');
      freeAll(input, output);
    },
    async fixed() {
      const input = mem(128, false);
      const output = mem(128, true);
      input.virAddr!.fill(3);
      hbSysWriteMem(output, new Uint8Array(128), 128);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_CLEAN);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 128);
      hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
      assert.equal(output.virAddr![0], 3);
      freeAll(input, output);
    },
  },
  {
    name: 'the CPU overwrites the input of a job it did not await (through virAddr)',
    kind: 'cpu-write-in-flight',
    async buggy() {
      const input = mem(4096, false);
      const output = mem(4096, false);
      input.virAddr!.fill(1);
      const job = emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      input.virAddr!.fill(2); // the next frame, too early
      await job;
      freeAll(input, output);
    },
    async fixed() {
      const input = mem(4096, false);
      const output = mem(4096, false);
      input.virAddr!.fill(1);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      input.virAddr!.fill(2);
      freeAll(input, output);
    },
  },
  {
    name: 'the CPU overwrites a cached input of a job in flight (through the buffer API)',
    kind: 'cpu-write-in-flight',
    async buggy() {
      using input = allocate(4096, { cached: true });
      using output = allocate(4096);
      input.write(new Uint8Array(4096).fill(1)).clean();
      const job = emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      input.write(new Uint8Array(16).fill(2));
      await job;
      input.clean();
    },
    async fixed() {
      using input = allocate(4096, { cached: true });
      using output = allocate(4096);
      input.write(new Uint8Array(4096).fill(1)).clean();
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      input.write(new Uint8Array(16).fill(2)).clean();
    },
  },
  {
    name: 'the CPU reads the output of a job it did not await (through virAddr)',
    kind: 'cpu-read-in-flight',
    async buggy() {
      const input = mem(4096, false);
      const output = mem(4096, false);
      input.virAddr!.fill(5);
      const job = emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      const first = output.virAddr![0]; // forgot to wait for the job
      // 0 or 5, whichever the BPU worker (beside this thread) got to: that is the bug.
      assert.ok(first === 0 || first === 5);
      assert.deepEqual(await kinds(), ['cpu-read-in-flight']);
      await job;
      freeAll(input, output);
    },
    async fixed() {
      const input = mem(4096, false);
      const output = mem(4096, false);
      input.virAddr!.fill(5);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      assert.equal(output.virAddr![0], 5);
      freeAll(input, output);
    },
  },
  {
    name: 'the CPU reads the output of a job in flight with hbSysReadMem',
    kind: 'cpu-read-in-flight',
    async buggy() {
      const input = mem(4096, false);
      const output = mem(4096, false);
      input.virAddr!.fill(5);
      const job = emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      hbSysReadMem(new Uint8Array(64), output, 64);
      await job;
      freeAll(input, output);
    },
    async fixed() {
      const input = mem(4096, false);
      const output = mem(4096, false);
      input.virAddr!.fill(5);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      hbSysReadMem(new Uint8Array(64), output, 64);
      freeAll(input, output);
    },
  },
  {
    name: 'the BPU reads an input nobody wrote (a forgotten input copy)',
    kind: 'uninitialized-read',
    async buggy() {
      const input = mem(4096, true);
      const output = mem(4096, false);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      freeAll(input, output);
    },
    async fixed() {
      // Only the first bytes are data: the rest is padding read along with it.
      const input = mem(4096, true);
      const output = mem(4096, false);
      hbSysWriteMem(input, new Uint8Array([1, 2, 3]), 3);
      hbSysFlushMem(input, HB_SYS_MEM_CACHE_CLEAN);
      await emulator.bpu.copy(output.phyAddr, input.phyAddr, 4096);
      freeAll(input, output);
    },
  },
  {
    name: 'a cached registration read after a write through its uncached allocation',
    kind: 'cpu-read-stale',
    async buggy() {
      const owner = mem(4096, false);
      owner.virAddr![0] = 42;
      const reg = { phyAddr: owner.phyAddr, memSize: 64 } as hbSysMem;
      assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
      assert.equal(reg.virAddr![0], 0, 'a stale line, as a camera ring buffer can hold');
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
    async fixed() {
      const owner = mem(4096, false);
      owner.virAddr![0] = 42;
      const reg = { phyAddr: owner.phyAddr, memSize: 64 } as hbSysMem;
      assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
      hbSysFlushMem(reg, HB_SYS_MEM_CACHE_INVALIDATE);
      assert.equal(reg.virAddr![0], 42);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
  },
  {
    name: 'hbSysWriteMem through the uncached allocation while a registration caches it',
    kind: 'cpu-read-stale',
    async buggy() {
      const owner = mem(4096, false);
      const reg = { phyAddr: owner.phyAddr, memSize: 128 } as hbSysMem;
      hbSysRegisterMem(reg);
      hbSysWriteMem(owner, new Uint8Array([9]), 1);
      const host = new Uint8Array(1);
      hbSysReadMem(host, reg, 1);
      assert.equal(host[0], 0);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
    async fixed() {
      const owner = mem(4096, false);
      const reg = { phyAddr: owner.phyAddr, memSize: 128 } as hbSysMem;
      hbSysRegisterMem(reg);
      hbSysWriteMem(owner, new Uint8Array([9]), 1);
      hbSysFlushMem(reg, HB_SYS_MEM_CACHE_INVALIDATE);
      const host = new Uint8Array(1);
      hbSysReadMem(host, reg, 1);
      assert.equal(host[0], 9);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
  },
  {
    name: 'a write through the uncached virAddr after the registration, read with hbSysReadMem',
    kind: 'cpu-read-stale',
    async buggy() {
      const owner = mem(4096, false);
      const reg = { phyAddr: owner.phyAddr, memSize: 128 } as hbSysMem;
      hbSysRegisterMem(reg);
      owner.virAddr![64] = 5; // the next frame of a ring buffer, behind the cache
      const host = new Uint8Array(128);
      hbSysReadMem(host, reg, 128);
      assert.equal(host[64], 0);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
    async fixed() {
      const owner = mem(4096, false);
      const reg = { phyAddr: owner.phyAddr, memSize: 128 } as hbSysMem;
      hbSysRegisterMem(reg);
      owner.virAddr![64] = 5;
      hbSysFlushMem(reg, HB_SYS_MEM_CACHE_INVALIDATE);
      const host = new Uint8Array(128);
      hbSysReadMem(host, reg, 128);
      assert.equal(host[64], 5);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
  },
  {
    name: 'a refused registration whose code is ignored',
    kind: 'register-failed',
    buggy() {
      const reg = { phyAddr: 0x0400_0000n, memSize: 64 } as hbSysMem;
      assert.equal(hbSysRegisterMem(reg), HB_SYS_REGISTER_MEM_FAILED);
    },
    fixed() {
      const owner = mem(4096, false);
      const reg = { phyAddr: owner.phyAddr, memSize: 64 } as hbSysMem;
      assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
      hbSysUnregisterMem(reg);
      freeAll(owner);
    },
  },
  {
    name: 'an unregister of something never registered',
    kind: 'not-a-handle',
    buggy() {
      const reg = { phyAddr: 0x0400_0000n, virAddr: null, memSize: 64 } as hbSysMem;
      assert.equal(hbSysUnregisterMem(reg), HB_SYS_INVALID_ARGUMENT);
    },
    fixed() {
      const owner = mem(4096, false);
      const reg = { phyAddr: owner.phyAddr, memSize: 64 } as hbSysMem;
      hbSysRegisterMem(reg);
      assert.equal(hbSysUnregisterMem(reg), HB_SYS_SUCCESS);
      freeAll(owner);
    },
  },
  {
    name: 'a flush of an hbSysMem no alloc filled',
    kind: 'not-a-handle',
    buggy() {
      const m = { phyAddr: 0n, virAddr: null, memSize: 0 } as hbSysMem;
      assert.equal(hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
      const foreign = { phyAddr: 0n, virAddr: new Uint8Array(8), memSize: 8 } as hbSysMem;
      assert.equal(hbSysFlushMem(foreign, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_INVALID_ARGUMENT);
    },
    fixed() {
      const m = mem(64, true);
      m.virAddr![0] = 1;
      assert.equal(hbSysFlushMem(m, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
      freeAll(m);
    },
  },
];

describe('missed bugs: the buggy program finds its kind, the fixed twin nothing', () => {
  beforeEach(() => sanitized());
  for (const t of twins) {
    test(`${t.kind}: ${t.name} (buggy)`, async () => {
      await t.buggy();
      assert.deepEqual(await kinds(), [t.kind], emulator.report());
    });
    test(`${t.kind}: ${t.name} (fixed)`, async () => {
      await t.fixed();
      assert.deepEqual(await kinds(), [], emulator.report());
    });
  }
});

describe('details', () => {
  test('the failures a program may ignore are warnings; the hazards are errors', async () => {
    await sanitized();
    hbSysRegisterMem({ phyAddr: 0x0400_0000n, memSize: 64 } as hbSysMem);
    hbSysFlushMem({ phyAddr: 0n, virAddr: null, memSize: 1 } as hbSysMem, HB_SYS_MEM_CACHE_CLEAN);
    const input = mem(64, false);
    const output = mem(64, false);
    await emulator.bpu.copy(output.phyAddr, input.phyAddr, 64);
    freeAll(input, output);
    assert.deepEqual(
      emulator.findings().map((f) => [f.kind, f.severity]),
      [
        ['register-failed', 'warning'],
        ['not-a-handle', 'warning'],
        ['uninitialized-read', 'error'],
      ],
    );
  });

  test('throw mode stops hbSysWriteMem into the input of a job in flight, before it writes', async () => {
    await sanitized('throw');
    const input = mem(64, false);
    const output = mem(64, false);
    input.virAddr!.fill(1);
    const job = emulator.bpu.copy(output.phyAddr, input.phyAddr, 64);
    assert.throws(
      () => hbSysWriteMem(input, new Uint8Array([9]), 1),
      (e: unknown) => e instanceof HbSysSanitizerError && e.finding.kind === 'cpu-write-in-flight',
    );
    assert.equal(input.virAddr![0], 1, 'nothing was written');
    await job;
    freeAll(input, output);
  });

  test('a job that writes its own input is not the CPU writing it', async () => {
    await sanitized();
    const buf = mem(4096, false);
    buf.virAddr!.fill(1);
    await emulator.bpu.copy(buf.phyAddr + 64n, buf.phyAddr, 1024); // overlapping, as memmove
    const other = mem(4096, false);
    other.virAddr!.fill(2);
    const first = emulator.bpu.copy(buf.phyAddr, other.phyAddr, 64);
    const second = emulator.bpu.copy(other.phyAddr, buf.phyAddr + 128n, 64); // a later job rewrites the first's input
    await Promise.all([first, second]);
    freeAll(buf, other);
    assert.deepEqual(await kinds(), [], emulator.report());
  });

  test('with stacks, a pointer finding names where the pointer was taken, one per site', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'report', stacks: true });
    emulator.clearFindings();
    const input = mem(64, false);
    const output = mem(64, true);
    input.virAddr!.fill(1);
    await emulator.bpu.copy(output.phyAddr, input.phyAddr, 64);
    for (let i = 0; i < 3; i++) {
      void output.virAddr![0]; // site A, three times
      await Promise.resolve();
      await emulator.bpu.fill(output.phyAddr, 2, 64); // stale again
    }
    void { ...output }.virAddr; // site B
    await Promise.resolve();
    hbSysFlushMem(output, HB_SYS_MEM_CACHE_INVALIDATE);
    freeAll(input, output);
    const found = emulator.findings().filter((f) => f.kind === 'cpu-read-stale');
    assert.deepEqual(
      found.map((f) => f.count),
      [3, 1],
      emulator.report(),
    );
    for (const f of found) assert.match(f.stack!.split('\n')[0]!, /missed-bugs\.test\.[jt]s/);
  });

  test('with the sanitizer off, fresh cached memory is zero', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const m = mem(256, true);
    assert.ok(m.virAddr!.every((b) => b === 0));
    freeAll(m);
  });

  test('under the sanitizer, fresh cached memory shows a pattern to the CPU, memory is zero', async () => {
    await sanitized();
    const m = mem(256, true);
    assert.equal(m.virAddr![0], 0xa5);
    assert.ok(emulator.peek(m.phyAddr, 256).every((b) => b === 0));
    hbSysFlushMem(m, HB_SYS_MEM_CACHE_INVALIDATE);
    assert.equal(m.virAddr![0], 0);
    freeAll(m);
  });
});
