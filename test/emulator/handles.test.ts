/**
 * Handles on their own: which live mapping a mem refers to, or why none, as a value. One
 * test per reason a mem is refused, each asserting the refusal returned and that asking
 * changed nothing: no failure recorded, no finding, the machine's statistics and the
 * caller's object as they were. What the program then sees of each reason (the code and
 * message) is bad-input.test.ts's.
 */

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { currentMachine } from '../../src/emulator/index.js';
import type { Refusal, Target } from '../../src/emulator/machine.js';
import {
  emulator,
  HB_SYS_SUCCESS,
  hbSysAllocCachedMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysRegisterMem,
  hbSysUnregisterMem,
} from '../../src/index.js';
import { type MemSnapshot, snapshotMem } from '../../src/snapshot.js';
import { snapshot } from '../helpers.js';

const SIZE = 4096;

function read(mem: hbSysMem): MemSnapshot {
  const s = snapshotMem(mem);
  assert.ok(!('error' in s));
  return s;
}

function allocated(): hbSysMem {
  const mem = {} as hbSysMem;
  assert.equal(hbSysAllocCachedMem(mem, SIZE), HB_SYS_SUCCESS);
  return mem;
}

/** `ask`'s answer, asserting that asking left the machine, the last error and `mem` alone. */
function quietly<T>(mem: hbSysMem, ask: () => T): T {
  const before = snapshot(mem);
  const lastError = hbSysGetLastError();
  const answer = ask();
  assert.equal(snapshot(mem), before, 'the machine and the mem are as they were');
  assert.equal(hbSysGetLastError(), lastError, 'no failure was recorded');
  return answer;
}

/** The refusal `t` is, with the reason `reason`. */
function refusal<R extends Refusal['reason']>(
  t: Target | Refusal,
  reason: R,
): Extract<Refusal, { reason: R }> {
  assert.equal(t.ok, false, 'refused');
  assert.equal((t as Refusal).reason, reason);
  return t as Extract<Refusal, { reason: R }>;
}

describe('handles: a mem to a live mapping, or the reason why not', () => {
  beforeEach(async () => {
    await emulator.reset({ heapSize: 1 << 20, sanitize: 'report' });
  });

  test('the mem an allocation filled is its mapping, from its first byte, all of it', () => {
    const mem = allocated();
    const handles = currentMachine().handles;
    const t = quietly(mem, () => handles.resolveBytes(read(mem)));
    assert.ok(t.ok);
    assert.equal(t.m.phyAddr, Number(mem.phyAddr));
    assert.equal(t.at, 0);
    assert.equal(t.length, SIZE);
    assert.equal(quietly(mem, () => handles.resolveHandedOut(read(mem))).ok, true);
  });

  test('the free path’s handle: the mem handed out, unchanged, with nothing registered inside', async () => {
    await emulator.reset({ heapSize: 1 << 20, sanitize: 'off' });
    const mem = allocated();
    const handles = currentMachine().handles;
    const slot = quietly(mem, () => handles.plainAllocation(read(mem)));
    assert.equal(slot, handles.lookup(read(mem))?.m.slot);
    const crop = { phyAddr: mem.phyAddr + 256n, virAddr: mem.virAddr!.subarray(256), memSize: 256 };
    const moved = { ...mem, phyAddr: mem.phyAddr + 1n };
    for (const other of [crop, moved]) {
      assert.equal(
        quietly(other, () => handles.plainAllocation(read(other))),
        -1,
      );
    }
    const reg = { phyAddr: mem.phyAddr, virAddr: null, memSize: 64 } as hbSysMem;
    assert.equal(hbSysRegisterMem(reg), HB_SYS_SUCCESS);
    assert.equal(
      quietly(mem, () => handles.plainAllocation(read(mem))),
      -1,
    );
    assert.equal(hbSysUnregisterMem(reg), HB_SYS_SUCCESS);
    assert.equal(
      quietly(mem, () => handles.plainAllocation(read(mem))),
      slot,
    );
  });

  test('null: virAddr is null, and says which mapping this object ended', () => {
    const never = { phyAddr: 0n, virAddr: null, memSize: 0 } as hbSysMem;
    const handles = currentMachine().handles;
    const r = refusal(
      quietly(never, () => handles.resolve(read(never))),
      'null',
    );
    assert.deepEqual(r, { ok: false, reason: 'null', ended: undefined });
    const freed = allocated();
    const phyAddr = Number(freed.phyAddr);
    assert.equal(hbSysFreeMem(freed), HB_SYS_SUCCESS);
    const again = refusal(
      quietly(freed, () => handles.resolve(read(freed))),
      'null',
    );
    assert.equal(again.ended?.phyAddr, phyAddr, 'the mapping it freed');
    assert.equal(again.ended?.live, false);
  });

  test('foreign: virAddr is no mapping hbsys handed out', () => {
    const mem = allocated();
    const forged = { phyAddr: mem.phyAddr, virAddr: new Uint8Array(SIZE), memSize: SIZE };
    const handles = currentMachine().handles;
    const r = quietly(forged, () => handles.resolve(read(forged)));
    assert.deepEqual(refusal(r, 'foreign'), { ok: false, reason: 'foreign' });
  });

  test('stale: a copy of a mem whose memory was freed', () => {
    const mem = allocated();
    const copy = { ...mem };
    assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS);
    const handles = currentMachine().handles;
    const r = refusal(
      quietly(copy, () => handles.resolve(read(copy))),
      'stale',
    );
    assert.equal(r.m.phyAddr, Number(copy.phyAddr));
    assert.equal(r.m.live, false);
  });

  test('outside: a view of the mapping that starts at its end', () => {
    const mem = allocated();
    const crop = {
      phyAddr: mem.phyAddr + BigInt(SIZE),
      virAddr: mem.virAddr!.subarray(SIZE),
      memSize: 1,
    };
    const handles = currentMachine().handles;
    const r = refusal(
      quietly(crop, () => handles.resolve(read(crop))),
      'outside',
    );
    assert.equal(r.m.phyAddr, Number(mem.phyAddr));
    assert.equal(r.m.size, SIZE);
  });

  test('phyAddr: not the mapping’s address plus where the view starts', () => {
    const mem = allocated();
    const moved = { ...mem, phyAddr: mem.phyAddr + 64n };
    const handles = currentMachine().handles;
    const r = refusal(
      quietly(moved, () => handles.resolve(read(moved))),
      'phyAddr',
    );
    assert.equal(r.m.phyAddr, Number(mem.phyAddr));
    assert.equal(r.at, 0);
    assert.equal(r.given, mem.phyAddr + 64n);
    const crop = { phyAddr: 'here', virAddr: mem.virAddr!.subarray(64), memSize: 64 };
    const c = refusal(
      quietly(crop as unknown as hbSysMem, () =>
        handles.resolve(read(crop as unknown as hbSysMem)),
      ),
      'phyAddr',
    );
    assert.equal(c.at, 64);
    assert.equal(c.given, 'here');
  });

  test('memSize: no byte count from where the mem starts to inside its mapping', () => {
    const mem = allocated();
    const handles = currentMachine().handles;
    for (const [at, memSize] of [
      [0, 0],
      [0, SIZE + 1],
      [128, SIZE - 127],
      [128, 1.5],
    ] as const) {
      const crop = {
        phyAddr: mem.phyAddr + BigInt(at),
        virAddr: mem.virAddr!.subarray(at),
        memSize,
      };
      assert.equal(
        quietly(crop, () => handles.resolve(read(crop))).ok,
        true,
        'resolve ignores memSize',
      );
      const r = refusal(
        quietly(crop, () => handles.resolveBytes(read(crop))),
        'memSize',
      );
      assert.equal(r.at, at);
      assert.equal(r.given, memSize);
      assert.equal(r.m.size, SIZE);
    }
  });

  test('subRange: a crop, where only the mem handed out ends a mapping', () => {
    const mem = allocated();
    const crop = { phyAddr: mem.phyAddr + 256n, virAddr: mem.virAddr!.subarray(256), memSize: 256 };
    const handles = currentMachine().handles;
    assert.equal(quietly(crop, () => handles.resolveBytes(read(crop))).ok, true);
    const r = refusal(
      quietly(crop, () => handles.resolveHandedOut(read(crop))),
      'subRange',
    );
    assert.equal(r.m.phyAddr, Number(mem.phyAddr));
    assert.equal(r.at, 256);
  });
});
