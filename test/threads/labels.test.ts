/**
 * Labels and allocation stacks live in the board's shared string table: a thread sees the
 * label and stack of an allocation or registration another thread made.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocate, dumpHeap, emulator, observeStats, register } from '../../src/index.js';
import { inWorker } from './workers.js';

test('a label given in one thread is seen in another, both ways, for allocations and registrations', async () => {
  await emulator.reset({ heapSize: 4 << 20, vioSize: 1 << 20 });
  using input = allocate(4096, { cached: true, label: 'camera → input' });
  using _part = register(input.phyAddr + 1024n, 512, { label: 'roi' });
  const seen = await inWorker<{ input: unknown; roi: unknown; phyAddr: bigint }>(`
    const byLabel = h.observeStats({ detailed: true }).byLabel;
    // Made here and kept (a worker's allocations live in the shared tables after it exits).
    const mine = h.allocate(8192, { label: 'worker output' });
    return { input: byLabel['camera → input'], roi: byLabel.roi, phyAddr: mine.phyAddr };`);
  const mine = observeStats({ detailed: true }).byLabel;
  assert.deepEqual(seen.input, { allocations: 1, bytes: 4096, registrations: 0 });
  assert.deepEqual(seen.input, mine['camera → input']);
  assert.equal((seen.roi as { registrations: number }).registrations, 1);
  assert.deepEqual(seen.roi, mine.roi);
  const here = observeStats({ detailed: true }).byLabel['worker output'];
  assert.deepEqual(here, { allocations: 1, bytes: 8192, registrations: 0 });
  const block = dumpHeap()
    .regions.flatMap((r) => r.blocks)
    .find((b) => b.label === 'worker output');
  assert.ok(block !== undefined, 'the dump names the worker allocation by its label');
  assert.equal(BigInt(block.phyAddr), seen.phyAddr);
});

test('allocation stacks (stacks: true) are seen from another thread', async () => {
  await emulator.reset({ heapSize: 4 << 20, vioSize: 1 << 20, stacks: true });
  const stack = await inWorker<string | null>(`
    function makeTheFrame() { return h.allocate(4096, { label: 'with a stack' }); }
    makeTheFrame();
    const block = h.dumpHeap().regions.flatMap((r) => r.blocks).find((b) => b.label === 'with a stack');
    return block ? block.allocStack : 'no block';`);
  assert.match(stack ?? '', /makeTheFrame/, 'the worker sees its own stack');
  const block = dumpHeap()
    .regions.flatMap((r) => r.blocks)
    .find((b) => b.label === 'with a stack');
  assert.match(block?.allocStack ?? '', /makeTheFrame/, 'and the main thread sees it too');
  await emulator.reset({ heapSize: 4 << 20, vioSize: 1 << 20 });
});

test("labels past the shared table's room stay known in the thread that made them", async () => {
  await emulator.reset({ heapSize: 4 << 20, vioSize: 1 << 20 });
  const big = 'x'.repeat(1 << 20);
  const buffers = Array.from({ length: 20 }, (_, i) => allocate(64, { label: `${big}${i}` }));
  const byLabel = observeStats({ detailed: true }).byLabel;
  for (let i = 0; i < 20; i++) {
    assert.equal(byLabel[`${big}${i}`]?.allocations, 1, `label ${i} (16 MiB of labels fit)`);
  }
  const inWorker20 = await inWorker<number>(`
    return Object.keys(h.observeStats({ detailed: true }).byLabel).filter((k) => k.length > 1000).length;`);
  assert.ok(inWorker20 >= 10 && inWorker20 < 20, `another thread sees those shared: ${inWorker20}`);
  for (const b of buffers) b.free();
  assert.equal(Object.keys(observeStats({ detailed: true }).byLabel).length, 0);
});
