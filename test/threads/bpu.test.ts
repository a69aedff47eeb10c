/**
 * One BPU for every thread: jobs of every thread run on one worker in one submission order,
 * each completes in the thread that submitted it; models load and run from any thread; the
 * memory a task holds and the ranges of jobs in flight are seen from every thread; reset
 * and the end of the thread that started the worker are said in every thread.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { channelName, GEN } from '../../src/emulator/bpu-queue.js';
import { currentBpu, currentMachine } from '../../src/emulator/index.js';
import {
  emulator,
  HB_SYS_INVALID_ARGUMENT,
  HB_SYS_SUCCESS,
  hbDNNInfer,
  hbDNNReleaseTask,
  type hbDNNTaskHandle_t,
  hbDNNWaitTaskDoneAsync,
  hbSysAllocMem,
  hbSysFreeMem,
  hbSysGetLastError,
  type hbSysMem,
  hbSysReadMem,
  hbSysWriteMem,
} from '../../src/index.js';
import { ctrl, f32, load, run, tensors } from '../dnn/helpers.js';
import { affineModel, modelDir, writeModel } from '../dnn/models.js';
import { nodeCommand } from '../helpers.js';
import { moduleText, next, scriptPath, startWorker } from './workers.js';

const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const models = modelDir();
const affine = writeModel(models, 'affine', affineModel([1, 16]));

/** Runs `body` in a worker to its result (what it posts first). */
async function inWorker<T>(body: string, data?: unknown): Promise<T> {
  const worker = startWorker(body, data);
  try {
    return await next<T>(worker);
  } finally {
    await worker.terminate();
  }
}

function alloc(size: number): hbSysMem {
  const mem = {} as hbSysMem;
  assert.equal(hbSysAllocMem(mem, size), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
  return mem;
}

const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number): { value: Promise<string> | string };
  }
).waitAsync;

afterEach(() => emulator.clearFindings());

describe('one BPU for every thread', () => {
  test('jobs of two threads run in one order: B copies what A copied before it', async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const size = 1 << 20;
    const x = alloc(size);
    const y = alloc(size);
    const z = alloc(size);
    // sync[0]: the round A has submitted; sync[1]: the round B has finished.
    const sync = new Int32Array(new SharedArrayBuffer(8));
    const rounds = 40;
    const worker = startWorker(
      `
      const sync = new Int32Array(data.sync);
      const seen = [];
      for (let i = 1; i <= data.rounds; i++) {
        while (Atomics.load(sync, 0) < i) Atomics.wait(sync, 0, i - 1);
        await h.emulator.bpu.copy(data.z.phyAddr, data.y.phyAddr, data.size);
        const out = new Uint8Array(2);
        h.hbSysReadMem(out, data.z, 1);
        out[1] = 0;
        seen.push(out[0]);
        Atomics.store(sync, 1, i);
        Atomics.notify(sync, 1);
      }
      parentPort.postMessage(seen);`,
      { sync: sync.buffer, rounds, x, y, z, size },
    );
    const result = next<number[]>(worker);
    for (let i = 1; i <= rounds; i++) {
      assert.equal(hbSysWriteMem(x, new Uint8Array(size).fill(i), size), HB_SYS_SUCCESS);
      // Not awaited before B submits: only the one queue's order puts B's copy after it.
      const mine = emulator.bpu.copy(y.phyAddr, x.phyAddr, size);
      Atomics.store(sync, 0, i);
      Atomics.notify(sync, 0);
      await mine;
      const w = waitAsync(sync, 1, i - 1);
      if (typeof w.value !== 'string') await w.value;
    }
    const seen = await result;
    await worker.terminate();
    assert.deepEqual(
      seen,
      Array.from({ length: rounds }, (_, i) => i + 1),
    );
    assert.equal(currentBpu().workersStarted, 1, 'one BPU worker in the process');
    for (const m of [x, y, z]) assert.equal(hbSysFreeMem(m), HB_SYS_SUCCESS);
  });

  test('a model loaded and run in a worker (blocking waits) and in the main thread at once', async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const worker = startWorker(
      `
      const m = dnn.load(data.file);
      const io = dnn.tensors(m.model, false);
      const results = [];
      for (let i = 0; i < 30; i++) {
        dnn.f32(io.inputs[0]).fill(i);
        const task = { value: null };
        if (h.hbDNNInfer(task, io.outputs, io.inputs, m.model, dnn.ctrl()) !== 0) throw new Error(h.hbDNNGetLastError().message);
        const code = h.hbDNNWaitTaskDone(task.value, 0);
        results.push([code, dnn.f32(io.outputs[0])[5]]);
        h.hbDNNReleaseTask(task.value);
      }
      parentPort.postMessage({ results, workers: bpu.currentBpu().workersStarted });`,
      { file: affine },
    );
    const theirs = next<{ results: [number, number][]; workers: number }>(worker);
    const m = load(affine);
    const io = tensors(m.model, false);
    const mine: [number, number][] = [];
    for (let i = 0; i < 30; i++) {
      f32(io.inputs[0]!).fill(100 + i);
      const task: { value: hbDNNTaskHandle_t | null } = { value: null };
      assert.equal(hbDNNInfer(task, io.outputs, io.inputs, m.model, ctrl()), 0);
      mine.push([await hbDNNWaitTaskDoneAsync(task.value!), f32(io.outputs[0]!)[5]!]);
      hbDNNReleaseTask(task.value!);
    }
    const r = await theirs;
    await worker.terminate();
    // The affine model computes 2x + 1.
    assert.deepEqual(
      r.results,
      Array.from({ length: 30 }, (_, i) => [0, 2 * i + 1]),
    );
    assert.deepEqual(
      mine,
      Array.from({ length: 30 }, (_, i) => [0, 2 * (100 + i) + 1]),
    );
    assert.equal(r.workers, 1);
    assert.equal(currentBpu().workersStarted, 1, 'one BPU worker in the process');
  });

  test("free in one thread of memory another thread's live task holds is refused, and says whose", async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const worker = startWorker(
      `
      const m = dnn.load(data.file);
      const io = dnn.tensors(m.model, false);
      const task = { value: null };
      h.hbDNNInfer(task, io.outputs, io.inputs, m.model, dnn.ctrl());
      parentPort.postMessage({ input: io.inputs[0].sysMem[0], output: io.outputs[0].sysMem[0] });
      await new Promise((r) => parentPort.once('message', r));
      h.hbDNNWaitTaskDone(task.value, 0);
      h.hbDNNReleaseTask(task.value);
      parentPort.postMessage('released');`,
      { file: affine },
    );
    const held = await next<{ input: hbSysMem; output: hbSysMem }>(worker);
    const thread = worker.threadId;
    for (const [mem, role] of [
      [held.input, 'an input'],
      [held.output, 'an output'],
    ] as const) {
      assert.equal(hbSysFreeMem(mem), HB_SYS_INVALID_ARGUMENT);
      const message = hbSysGetLastError()?.message ?? '';
      assert.match(
        message,
        new RegExp(`holds ${role} .*model task #\\d+.*a task of thread ${thread}`),
      );
      assert.match(message, /hbDNNWaitTaskDone/);
    }
    worker.postMessage('wait');
    assert.equal(await next(worker), 'released');
    assert.equal(hbSysFreeMem(held.input), HB_SYS_SUCCESS, 'free once the task is done');
    assert.equal(hbSysFreeMem(held.output), HB_SYS_SUCCESS);
    await worker.terminate();
  });

  test('a thread that ends leaves its tasks holding nothing', async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const worker = startWorker(
      `
      const m = dnn.load(data.file);
      const io = dnn.tensors(m.model, false);
      const task = { value: null };
      h.hbDNNInfer(task, io.outputs, io.inputs, m.model, dnn.ctrl());
      parentPort.postMessage(io.inputs[0].sysMem[0]);`,
      { file: affine },
    );
    const input = await next<hbSysMem>(worker);
    await new Promise((r) => worker.once('exit', r));
    assert.equal(hbSysFreeMem(input), HB_SYS_SUCCESS, hbSysGetLastError()?.message);
  });

  test('a pack made in another thread is refused here with a word on threads', async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const r = await inWorker<{ code: number; message: string }>(
      `
      const code = h.hbDNNRelease(data.packed);
      parentPort.postMessage({ code, message: h.hbDNNGetLastError().message });`,
      { packed: load(affine).packed },
    );
    assert.notEqual(r.code, 0);
    assert.match(r.message, /made in another thread is not one here/);
  });

  for (const buggy of [true, false]) {
    test(`a CPU write in one thread to the input of a task in flight in another: ${buggy ? 'found' : 'clean when it waits first'}`, async () => {
      await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'report' });
      emulator.clearFindings();
      const worker = startWorker(
        `
        const m = dnn.load(data.file);
        const io = dnn.tensors(m.model, false);
        dnn.f32(io.inputs[0]).fill(2);
        const task = { value: null };
        h.hbDNNInfer(task, io.outputs, io.inputs, m.model, dnn.ctrl());
        if (!data.buggy) h.hbDNNWaitTaskDone(task.value, 0);
        parentPort.postMessage(io.inputs[0].sysMem[0]);
        await new Promise((r) => parentPort.once('message', r));
        if (data.buggy) h.hbDNNWaitTaskDone(task.value, 0);
        h.hbDNNReleaseTask(task.value);
        parentPort.postMessage('done');`,
        { file: affine, buggy },
      );
      const input = await next<hbSysMem>(worker);
      const thread = worker.threadId;
      assert.equal(hbSysWriteMem(input, new Uint8Array(64).fill(1), 64), HB_SYS_SUCCESS);
      worker.postMessage('go');
      assert.equal(await next(worker), 'done');
      await worker.terminate();
      const found = emulator.findings().filter((f) => f.kind === 'task-not-done');
      if (buggy) {
        // Found at the write, in this thread (and maybe again by the worker's own check of
        // the input as the job completes, if that came after the write).
        const atWrite = found.filter((f) => f.where === 'hbSysWriteMem');
        assert.equal(
          atWrite.length,
          1,
          emulator
            .findings()
            .map((f) => f.message)
            .join('\n'),
        );
        assert.match(atWrite[0]!.message, /the CPU wrote the input .* of model task #\d+/);
        assert.match(
          atWrite[0]!.message,
          new RegExp(`hbDNNWaitTaskDone on its task in thread ${thread}`),
        );
      } else {
        assert.deepEqual(emulator.findings(), []);
      }
    });
  }

  test("reset with a worker's jobs in flight: they reject as reset, and the new machine's BPU works", async () => {
    // The BPU may run every queued copy before the reset (a loaded machine, qemu): then
    // nothing is cut short and the attempt proves nothing. Each attempt queues more; one
    // that sees jobs rejected as reset is the proof.
    let cut = 0;
    for (const copies of [10, 40, 160]) {
      await emulator.reset({ heapSize: 80 << 20, vioSize: 1 << 20, sanitize: 'off' });
      const a = alloc(32 << 20);
      const b = alloc(32 << 20);
      const worker = startWorker(
        `
        const jobs = Array.from({ length: data.copies }, () => h.emulator.bpu.copy(data.b.phyAddr, data.a.phyAddr, 32 << 20));
        parentPort.postMessage('submitted');
        const settled = await Promise.allSettled(jobs);
        parentPort.postMessage(settled.map((s) => s.status === 'rejected' ? String(s.reason) : 'ok'));`,
        { a, b, copies },
      );
      assert.equal(await next(worker), 'submitted');
      const outcomes = next<string[]>(worker);
      await emulator.reset({ heapSize: 1 << 20, vioSize: 1 << 20 });
      const settled = await outcomes;
      await worker.terminate();
      for (const s of settled) if (s !== 'ok') assert.match(s, /emulator was reset/);
      const c = alloc(64);
      await emulator.bpu.fill(c.phyAddr, 3, 64);
      const out = new Uint8Array(1);
      assert.equal(hbSysReadMem(out, c, 1), HB_SYS_SUCCESS);
      assert.equal(out[0], 3);
      cut = settled.filter((s) => s !== 'ok').length;
      if (cut > 0) break;
    }
    assert.ok(cut > 0, 'some jobs had not run when the machine was reset');
  });

  for (const how of ['returns', 'is terminated'] as const) {
    test(`the thread that started the worker ${how}: the jobs of others reject saying so, and the next job starts a new one`, async () => {
      // The BPU may finish the work queued here before the starter thread has ended (a
      // loaded machine, qemu): then nothing is lost, and the attempt proves nothing. Each
      // attempt, on a fresh machine, queues more; one that loses jobs is the proof. A
      // terminated thread runs no code: the thread that made it (here, this one) sees it
      // end and says the BPU worker is gone. Without that word, the jobs waited for the
      // worker's heartbeat to fall silent: 30 s.
      let lost = 0;
      for (const copies of [10, 50, 250]) {
        await emulator.reset({ heapSize: 80 << 20, vioSize: 1 << 20, sanitize: 'off' });
        const a = alloc(32 << 20);
        const b = alloc(32 << 20);
        let started = currentBpu().workersStarted;
        // A worker thread submits first: it starts the BPU worker, which ends with it.
        const worker = startWorker(
          `
          await h.emulator.bpu.fill(data.a.phyAddr, 1, 16);
          parentPort.postMessage('started');
          await new Promise((r) => parentPort.once('message', r));`,
          { a },
        );
        assert.equal(await next(worker), 'started');
        const starter = worker.threadId;
        assert.equal(currentBpu().workersStarted, ++started, 'the worker thread started it');
        // Settled as they end: a job lost while the thread exits rejects before the await
        // below, and a rejection nobody handles yet fails the test as unhandled.
        const jobs = Promise.allSettled(
          Array.from({ length: copies }, () => emulator.bpu.copy(b.phyAddr, a.phyAddr, 32 << 20)),
        );
        const t0 = performance.now();
        if (how === 'is terminated') await worker.terminate();
        else {
          const exited = new Promise((r) => worker.once('exit', r));
          worker.postMessage('end');
          await exited;
        }
        const settled = await jobs;
        const waited = performance.now() - t0;
        const rejected = settled.filter((s) => s.status === 'rejected');
        for (const r of rejected) {
          assert.match(
            String((r as PromiseRejectedResult).reason),
            new RegExp(`ended with thread ${starter}, the thread that started it`),
          );
        }
        if (how === 'is terminated' && rejected.length > 0) {
          assert.ok(waited < 10_000, `the jobs settled ${Math.round(waited)} ms after the end`);
        }
        // Whatever was lost, the next job starts a new worker (in this thread).
        await emulator.bpu.fill(b.phyAddr, 9, 16);
        assert.equal(currentBpu().workersStarted, ++started, 'a new worker');
        const out = new Uint8Array(1);
        assert.equal(hbSysReadMem(out, b, 1), HB_SYS_SUCCESS);
        assert.equal(out[0], 9);
        lost = rejected.length;
        if (lost > 0) break;
      }
      assert.ok(lost > 0, 'some jobs were lost with the worker');
    });
  }
});

describe('the channel of model jobs', () => {
  // Model jobs reach the BPU worker in two parts: the slot in the ring, and the job's
  // description on a BroadcastChannel. While the worker awaits a model job its event loop
  // runs, and Node then delivers the channel's messages as events, no longer readable with
  // receiveMessageOnPort: a thread that connected or posted then was never answered (its
  // load hung). A fresh process, so that the first model job (the runtime's start, hundreds
  // of milliseconds of turning loop) is the window; a worker posts 20 ms into it.
  test("a thread's model job posted while another thread's model loads is run, not lost", async () => {
    const file = scriptPath('p');
    const workerFile = scriptPath('w');
    writeFileSync(
      workerFile,
      moduleText(`
       parentPort.postMessage('ready');
       const t0 = performance.now(); while (performance.now() - t0 < 20);
       try { dnn.load(data.file); parentPort.postMessage('loaded'); }
       catch (e) { parentPort.postMessage('failed: ' + e.message); }`),
    );
    writeFileSync(
      file,
      moduleText(`
       import { Worker } from 'node:worker_threads';
       const a = {};
       h.hbSysAllocMem(a, 64); // the machine exists: the worker shares it
       // This thread starts the BPU worker: were the worker thread first, the BPU worker
       // would end with it.
       await h.emulator.bpu.fill(a.phyAddr, 0, 64);
       const w = new Worker(${JSON.stringify(workerFile)}, { workerData: { file: ${JSON.stringify(affine)} } });
       const said = [];
       let wake;
       w.on('message', (m) => { said.push(m); wake?.(); });
       const next = async () => {
         while (said.length === 0) await new Promise((r) => { wake = r; });
         return said.shift();
       };
       setTimeout(() => { console.log('the worker never answered'); process.exit(1); }, 20_000).unref();
       await next(); // its imports are done: it posts its job 20 ms from now, while this load runs
       dnn.load(${JSON.stringify(affine)});
       console.log('main loaded; worker ' + await next());
       await w.terminate();`),
    );
    const { stdout } = await promisify(execFile)(...nodeCommand([file]), { timeout: 60_000 });
    assert.equal(stdout.trim(), 'main loaded; worker loaded');
  });
});

describe("each thread's own channel", () => {
  // Model jobs' descriptions (model bytes, tensors) go on the posting thread's own channel,
  // which only the BPU worker opens, once it has opened it (a thread's first model job may
  // come before: that one goes on the worker's channel). When every thread kept the
  // worker's channel open, a BroadcastChannel cloned each message for every one of them:
  // every connected thread received every other thread's model bytes, and held them while
  // its event loop did not turn (hundreds of MB in a loop of loads).
  test("another thread's channel hears of connections, not of the model jobs of a connected thread", async () => {
    await emulator.reset({ heapSize: 16 << 20, vioSize: 1 << 20, sanitize: 'off' });
    const a = alloc(64);
    await emulator.bpu.fill(a.phyAddr, 0, 64); // the worker runs, this thread is connected
    const share = currentMachine().board.share.bpu;
    const gen = Atomics.load(new Int32Array(share.control), GEN);
    const heard: { kind: string; thread: number }[] = [];
    const other = new BroadcastChannel(channelName(share, gen));
    other.onmessage = (e) => heard.push((e as MessageEvent).data);
    try {
      const worker = startWorker(
        `
        const m = dnn.load(data.file);
        const io = dnn.tensors(m.model);
        for (let i = 0; i < 5; i++) dnn.run(m.model, io.inputs, io.outputs);
        parentPort.postMessage('ran');`,
        { file: affine },
      );
      assert.equal(await next(worker), 'ran');
      const id = worker.threadId;
      await worker.terminate();
      const m = load(affine);
      const io = tensors(m.model);
      run(m.model, io.inputs, io.outputs);
      // Past the delivery of anything posted so far.
      await new Promise((r) => setTimeout(r, 50));
      const said = heard.map((x) => `${x.kind} of ${x.thread}`).join(', ');
      assert.ok(
        heard.some((x) => x.kind === 'connect' && x.thread === id),
        `the worker thread's connection was heard: ${said}`,
      );
      // This thread was connected before: none of its jobs. The worker thread's load (a
      // blocking one: its channel is open once it returns) may be heard, none of its runs.
      const jobsOf = (t: number) => heard.filter((x) => x.kind === 'job' && x.thread === t);
      assert.equal(jobsOf(threadId).length, 0, said);
      assert.ok(jobsOf(id).length <= 1, said);
    } finally {
      other.close();
      assert.equal(hbSysFreeMem(a), HB_SYS_SUCCESS);
    }
  });
});

describe('process exit', () => {
  test('a process whose threads forget their jobs still exits', async () => {
    const file = scriptPath('p');
    writeFileSync(
      file,
      `import * as h from ${JSON.stringify(entry)};
       import { Worker } from 'node:worker_threads';
       const a = {};
       h.hbSysAllocMem(a, 4 << 20);
       const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(
         "import * as h from " + JSON.stringify(${JSON.stringify(new URL(`file://${entry}`).href)}) + ";" +
         "import { workerData } from 'node:worker_threads';" +
         "for (let i = 0; i < 50; i++) h.emulator.bpu.fill(workerData.phyAddr, i, 4 << 20);")),
         { workerData: { phyAddr: a.phyAddr } });
       for (let i = 0; i < 50; i++) h.emulator.bpu.fill(a.phyAddr, i, 4 << 20);
       console.log('submitted');`,
    );
    const { stdout } = await promisify(execFile)(...nodeCommand([file]), { timeout: 30_000 });
    assert.equal(stdout.trim(), 'submitted');
  });
});
