/**
 * What a thread leaves when it ends, whether it returns or is terminated: its models are
 * unloaded from the one BPU worker, and the memory its tasks held and the ranges of its
 * jobs in flight no longer refuse other threads' frees and writes, while the other threads'
 * models go on running.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { currentBpu } from '../../src/emulator/index.js';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_SUCCESS,
  hbDNNInfer,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  hbDNNWaitTaskDone,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { ctrl, f32, type Loaded, load, tensors } from '../dnn/helpers.js';
import { affineModel, chainModel, modelDir, writeModel } from '../dnn/models.js';
import { nodeCommand } from '../helpers.js';
import { moduleText, next, scriptPath, startWorker } from './workers.js';

const models = modelDir();
const affine = writeModel(models, 'affine', affineModel([1, 16]));
const chain = writeModel(models, 'chain', chainModel());

/** Liveness only: a loaded machine under qemu may take long, a broken one never ends. */
const DEADLINE_MS = 180_000;

/** Waits (turning the event loop) until `done()`, or fails after the deadline. */
async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = performance.now() + DEADLINE_MS;
  while (!done()) {
    if (performance.now() > deadline) assert.fail(`${what}: not within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The thread's end: it returns (its module ends), or it is terminated while it waits. */
async function end(worker: Worker, how: 'returns' | 'is terminated'): Promise<void> {
  if (how === 'is terminated') {
    await worker.terminate();
    return;
  }
  const exited = new Promise((r) => worker.once('exit', r));
  worker.postMessage('end');
  await exited;
}

/** Runs the affine model (2x + 1) in this thread on `x`: the value it wrote. */
function infer(m: Loaded, x: number): number {
  const io = tensors(m.model, false);
  f32(io.inputs[0]!).fill(x);
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  assert.equal(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()), 0);
  assert.equal(hbDNNWaitTaskDone(task.value!, 0), 0);
  assert.equal(hbDNNReleaseTask(task.value!), 0);
  const y = f32(io.outputs[0]!)[0]!;
  for (const t of [...io.inputs, ...io.outputs]) hbSysFreeMem(t.sysMem[0]!);
  return y;
}

/** A worker's module: load (and run) the affine model, say so, then wait to be ended. */
const loadsThenWaits = `
  const m = dnn.load(data.file);
  const io = dnn.tensors(m.model, false);
  const task = { value: null };
  h.hbDNNInfer(task, io.outputs, io.inputs, m.model, dnn.ctrl());
  h.hbDNNWaitTaskDone(task.value, 0);
  h.hbDNNReleaseTask(task.value);
  parentPort.postMessage('loaded');
  // Neither hbDNNRelease nor anything else: what it loaded is left to its end.
  parentPort.once('message', () => parentPort.close());`;

afterEach(() => emulator.clearFindings());

describe('a thread that ends', () => {
  for (const how of ['returns', 'is terminated'] as const) {
    test(`${how}: the models it loaded and never released are unloaded from the BPU worker`, async () => {
      await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
      const mine = load(affine);
      const bpu = currentBpu();
      assert.equal(bpu.liveSessions, 1);
      const worker = startWorker(loadsThenWaits, { file: affine });
      assert.equal(await next(worker), 'loaded');
      assert.equal(bpu.liveSessions, 2, "the worker's model is loaded beside this thread's");
      await end(worker, how);
      await until('the ended thread’s session unloaded', () => bpu.liveSessions === 1);
      // This thread's model is the one left, and it runs.
      assert.equal(infer(mine, 4), 9);
      assert.equal(bpu.liveSessions, 1);
      assert.equal(bpu.workersStarted, 1, 'the same BPU worker throughout');
    });
  }

  test("is terminated with a worker of its own: that worker's models are unloaded too", async () => {
    // Node ends a thread's workers with it, and the thread that would have seen them end is
    // the one that ended: the thread that sees it end (this one) takes its workers too.
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const mine = load(affine);
    const bpu = currentBpu();
    const grandchild = scriptPath('w');
    writeFileSync(grandchild, moduleText(loadsThenWaits));
    const worker = startWorker(
      `
      import { Worker } from 'node:worker_threads';
      h.hbSysAllocMem({}, 64); // this thread has the machine: it sees the workers it makes
      const w = new Worker(data.grandchild, { workerData: { file: data.file } });
      w.once('message', (m) => parentPort.postMessage('its worker ' + m));
      setInterval(() => {}, 1000);`,
      { file: affine, grandchild },
    );
    assert.equal(await next(worker), 'its worker loaded');
    assert.equal(bpu.liveSessions, 2, "its worker's model is loaded beside this thread's");
    await worker.terminate();
    await until('the session of the ended thread’s worker unloaded', () => bpu.liveSessions === 1);
    assert.equal(infer(mine, 4), 9);
  });

  const lockCases = [
    ['itself', true],
    ['a worker it made', true],
    ['itself', false],
    ['a worker it made', false],
  ] as const;
  for (const [who, awaited] of lockCases) {
    const how = awaited
      ? 'the thread that sees it end goes on'
      : 'a call right after, not awaited, goes on';
    test(`is terminated while ${who} holds the board's lock: ${how}`, async () => {
      // A terminated thread runs no more code, so a lock it (or a worker that ended with
      // it) held stays taken until the thread that sees the end lets it go; that thread
      // must let it go before it takes the lock itself, or it waits forever. Not awaited,
      // the end is not seen before the next call (an event, and the call does not return to
      // the event loop): the call lets the lock go itself, the terminate being a second
      // old. A fresh process, so that a hang is a failed run, not a hung suite.
      const holder = scriptPath('w');
      writeFileSync(
        holder,
        moduleText(`
         h.hbSysAllocMem({}, 64);
         const hold = () => {
           bpu.currentMachine().board.lock();
           parentPort.postMessage('holds the lock');
           const never = new Int32Array(new SharedArrayBuffer(4));
           for (;;) Atomics.wait(never, 0, 0);
         };
         if (data.now) hold(); else parentPort.once('message', hold);`),
      );
      const parent = scriptPath('w');
      writeFileSync(
        parent,
        moduleText(`
         import { Worker } from 'node:worker_threads';
         h.hbSysAllocMem({}, 64); // this thread has the machine: it records its workers
         const w = new Worker(data.holder, { workerData: { now: false } });
         // Its record of the worker is made (a microtask) before the worker takes the lock.
         await new Promise((r) => setImmediate(r));
         w.once('message', (m) => parentPort.postMessage('its worker ' + m));
         w.postMessage('lock');
         setInterval(() => {}, 1000);`),
      );
      const main = scriptPath('p');
      const first =
        who === 'itself'
          ? `new Worker(${JSON.stringify(holder)}, { workerData: { now: true } })`
          : `new Worker(${JSON.stringify(parent)}, { workerData: { holder: ${JSON.stringify(holder)} } })`;
      writeFileSync(
        main,
        moduleText(`
         import { Worker } from 'node:worker_threads';
         h.hbSysAllocMem({}, 64);
         const t = ${first};
         const said = await new Promise((r) => t.once('message', r));
         ${awaited ? 'await t.terminate();' : 't.terminate();'}
         console.log(said + '; then ' + h.hbSysAllocMem({}, 64));
         process.exit(0);`),
      );
      const { stdout } = await promisify(execFile)(...nodeCommand([main]), { timeout: 60_000 });
      assert.equal(
        stdout.trim(),
        `${who === 'itself' ? '' : 'its worker '}holds the lock; then ${HB_SYS_SUCCESS}`,
      );
    });
  }

  test('calls process.exit() from a setter of its mem, inside a call: a thread blocked on the lock goes on', async () => {
    // The setter runs under the board's lock, and the call never finishes; the main thread,
    // blocked in Atomics.wait and then in its own call, never turns its event loop to see
    // the end. The exiting thread lets the lock go itself. A fresh process, as above.
    const exits = scriptPath('w');
    writeFileSync(
      exits,
      moduleText(`
       const mem = {};
       Object.defineProperty(mem, 'phyAddr', { configurable: true, set() {
         Atomics.store(data, 0, 1);
         Atomics.notify(data, 0);
         process.exit(0);
       } });
       h.hbSysAllocMem(mem, 4096);`),
    );
    const main = scriptPath('p');
    writeFileSync(
      main,
      moduleText(`
       import { Worker } from 'node:worker_threads';
       h.hbSysAllocMem({}, 64);
       const flag = new Int32Array(new SharedArrayBuffer(4));
       new Worker(${JSON.stringify(exits)}, { workerData: flag });
       Atomics.wait(flag, 0, 0);
       // Long enough for the worker to be gone: its end is not reported to this thread.
       for (const t = Date.now(); Date.now() - t < 200; );
       console.log('then ' + h.hbSysAllocMem({}, 64));
       process.exit(0);`),
    );
    const { stdout } = await promisify(execFile)(...nodeCommand([main]), { timeout: 60_000 });
    assert.equal(stdout.trim(), `then ${HB_SYS_SUCCESS}`);
  });

  test('many threads that load and end leave no sessions behind', async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const mine = load(affine);
    const bpu = currentBpu();
    for (let i = 0; i < 6; i++) {
      const worker = startWorker(loadsThenWaits, { file: affine });
      assert.equal(await next(worker), 'loaded');
      await end(worker, i % 2 === 0 ? 'returns' : 'is terminated');
    }
    await until('the ended threads’ sessions unloaded', () => bpu.liveSessions === 1);
    assert.equal(infer(mine, 1), 3);
  });

  for (const how of ['is terminated', 'calls process.exit()'] as const) {
    test(`${how} with tasks in flight: their memory is freed from another thread, once their job ended`, async () => {
      await emulator.reset({ heapSize: 32 << 20, vioSize: 1 << 20, sanitize: 'report' });
      const mine = load(affine);
      const bpu = currentBpu();
      // Chains of matrix products ahead of its affine task keep the BPU on the thread's jobs
      // as it ends (mid-job or not: either way its rows must go, and only its job
      // that runs delays that).
      const worker = startWorker(
        `
      const chain = dnn.load(data.chain);
      const ahead = dnn.tensors(chain.model, false);
      const m = dnn.load(data.file);
      const io = dnn.tensors(m.model, false);
      for (let i = 0; i < 8; i++) h.hbDNNInfer({ value: null }, ahead.outputs, ahead.inputs, chain.model, dnn.ctrl());
      h.hbDNNInfer({ value: null }, io.outputs, io.inputs, m.model, dnn.ctrl());
      parentPort.postMessage({
        held: [io.inputs[0].sysMem[0], io.outputs[0].sysMem[0], ahead.inputs[0].sysMem[0], ahead.outputs[0].sysMem[0]],
      });
      parentPort.once('message', () => process.exit(0));`,
        { file: affine, chain },
      );
      const { held } = await next<{ held: hbSysMem[] }>(worker);
      const thread = worker.threadId;
      // Held while the thread lives (the proof that there is something to leave).
      assert.equal(hbSysFreeMem(held[0]!), HB_SYS_INVALID_ARGUMENT);
      assert.match(hbSysGetLastError()?.message ?? '', new RegExp(`a task of thread ${thread}`));
      if (how === 'is terminated') await worker.terminate();
      else {
        const exited = new Promise((r) => worker.once('exit', r));
        worker.postMessage('exit');
        await exited;
      }
      // Its rows go all at once: the first free that succeeds says they are gone.
      const [input, ...rest] = held as [hbSysMem, ...hbSysMem[]];
      const last = rest.pop()!;
      await until('the terminated thread’s memory freed', () => hbSysFreeMem(last) === 0);
      // Nothing of it is in flight any more: a write to its input is clean (the findings so
      // far are its own reads, as it posted its tensors).
      emulator.clearFindings();
      assert.equal(hbSysWriteMem(input, new Uint8Array(64), 64), HB_SYS_SUCCESS);
      assert.deepEqual(emulator.findings(), []);
      for (const mem of [input, ...rest]) {
        assert.equal(hbSysFreeMem(mem), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
      }
      // Its models went with it; this thread's model runs, on memory that was its.
      await until('the terminated thread’s sessions unloaded', () => bpu.liveSessions === 1);
      assert.equal(infer(mine, 10), 21);
    });
  }
});
