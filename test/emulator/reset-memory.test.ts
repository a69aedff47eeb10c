/**
 * `emulator.reset()` in a loop holds memory flat: a new machine takes over the
 * physical memory of the one it replaces, cleared, instead of leaving it for a full garbage
 * collection. Measured in a child process, so that the figures are this loop's alone.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { currentBpu } from '../../src/emulator/index.js';
import {
  allocate,
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_MEM_CACHE_CLEAN,
  HB_SYS_SUCCESS,
  HbSysError,
  hbSysAllocCachedMem,
  hbSysFlushMem,
  type hbSysMem,
  hbSysWriteMem,
  useBackend,
} from '../../src/index.js';
import { nodeCommand } from '../helpers.js';

const INDEX = new URL('../../src/index.js', import.meta.url).href;

/** Resets `n` times with `options`, each time allocating and writing `touch` bytes; RSS in MiB. */
function loop(n: number, options: object, touch: number): Promise<{ warm: number; end: number }> {
  const source = `
    import { allocate, emulator } from '${INDEX}';
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    let warm = 0;
    for (let i = 0; i < ${n}; i++) {
      await emulator.reset(${JSON.stringify(options)});
      if (${touch} > 0) allocate(${touch}, { cached: true }).write(new Uint8Array(${touch}).fill(i)).clean();
      if (i === 0) warm = rss();
    }
    console.log(JSON.stringify({ warm, end: rss() }));`;
  return new Promise((resolve, reject) => {
    const [command, args] = nodeCommand(['--input-type=module', '-e', source]);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`)),
    );
  });
}

describe('reset loops hold memory flat', () => {
  test('200 resets of 16 MiB heaps, each writing 4 MiB: RSS grows less than 128 MiB', async () => {
    const { warm, end } = await loop(200, { heapSize: 16 << 20, vioSize: 1 << 20 }, 4 << 20);
    console.log(`# RSS after 1 reset ${warm.toFixed(0)} MiB, after 200 ${end.toFixed(0)} MiB`);
    assert.ok(end - warm < 128, `RSS grew by ${(end - warm).toFixed(0)} MiB`);
  });

  test('400 resets of 1 MiB heaps with the default VIO region, no allocations', async () => {
    const { warm, end } = await loop(400, { heapSize: 1 << 20 }, 0);
    console.log(`# RSS after 1 reset ${warm.toFixed(0)} MiB, after 400 ${end.toFixed(0)} MiB`);
    assert.ok(end - warm < 128, `RSS grew by ${(end - warm).toFixed(0)} MiB`);
  });
});

describe('a machine that reuses memory starts as a fresh one', () => {
  test('what the old machine wrote is gone; its handles and views do not reach the new one', async () => {
    useBackend('emulator');
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    const old = {} as hbSysMem;
    assert.equal(hbSysAllocCachedMem(old, 64 << 10), HB_SYS_SUCCESS);
    old.virAddr!.fill(0xab);
    assert.equal(hbSysFlushMem(old, HB_SYS_MEM_CACHE_CLEAN), HB_SYS_SUCCESS);
    const frame = emulator.vio.alloc(4096);
    emulator.vio.write(frame.phyAddr, new Uint8Array(4096).fill(0xcd));
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
    assert.ok(
      emulator.peek(old.phyAddr, 64 << 10).every((b) => b === 0),
      'ION memory cleared',
    );
    assert.ok(
      emulator.peek(frame.phyAddr, 4096).every((b) => b === 0),
      'VIO memory cleared',
    );
    const fresh = allocate(64 << 10, { cached: true });
    assert.equal(fresh.phyAddr, old.phyAddr, 'the same address, in the new machine');
    assert.ok(
      fresh.bytes.every((b) => b === 0),
      'the cache plane is cleared too',
    );
    assert.equal(hbSysWriteMem(old, new Uint8Array(8), 8), HB_SYS_INVALID_ARGUMENT);
    fresh.free();
  });

  test('the memory a BPU job wrote is cleared when a later machine takes it over', async () => {
    const options = { heapSize: 8 << 20, vioSize: 1 << 20 };
    await emulator.reset(options);
    const a = allocate(4 << 20);
    await emulator.bpu.fill(a.phyAddr, 7, 4 << 20);
    const worker = currentBpu().worker!;
    const gone = new Promise((r) => worker.once('exit', r));
    const jobs = Promise.allSettled(
      Array.from({ length: 8 }, () => emulator.bpu.fill(a.phyAddr, 9, 4 << 20)),
    );
    await emulator.reset(options);
    await jobs;
    await gone;
    // Its worker has exited: the machine after next takes over its memory, cleared.
    await emulator.reset(options);
    assert.ok(emulator.peek(a.phyAddr, 4 << 20).every((b) => b === 0));
    using b = allocate(4 << 20);
    assert.equal(b.phyAddr, a.phyAddr);
    assert.ok(b.bytes.every((x) => x === 0));
  });

  test('resets made together: the last one wins', async () => {
    await Promise.all([
      emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 }),
      emulator.reset({ heapSize: 2 << 20, vioSize: 1 << 20 }),
      emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, maxAllocations: 3 }),
    ]);
    assert.equal(emulator.stats().maxAllocations, 3);
    using b = allocate(4096);
    assert.ok(b.bytes.every((x) => x === 0));
  });

  test('options whose getters throw: an HbSysError, and the old machine stays', async () => {
    await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20, maxAllocations: 7 });
    const hostile = {
      get heapSize(): number {
        throw new Error('boom');
      },
    };
    await assert.rejects(emulator.reset(hostile), (e: unknown) => {
      assert.ok(e instanceof HbSysError);
      assert.equal(e.code, HB_SYS_INVALID_ARGUMENT);
      return true;
    });
    assert.equal(emulator.stats().maxAllocations, 7);
  });
});
