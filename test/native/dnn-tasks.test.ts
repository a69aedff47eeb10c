/**
 * Tasks of the native hbDNN backend against the C stand-in, whose tasks run on their own
 * threads (so waits and timeouts are real): `more` batching, blocking waits and timeouts,
 * the promise, failed tasks, the live-task limit, and releases before completion, with C's
 * own counts of live tasks and hbsys's count of the native blocks it holds.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import {
  HB_DNN_API_USE_ERROR,
  HB_DNN_INVALID_TASK_HANDLE,
  HB_DNN_MODEL_IS_RUNNING,
  HB_DNN_RUN_TASK_FAILED,
  HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
  HB_DNN_TASK_NUM_EXCEED_LIMIT,
  HB_DNN_TIMEOUT,
  hbDNNGetLastError,
} from '../../src/dnn/status.js';
import type {
  hbDNNHandle_t,
  hbDNNOut,
  hbDNNTaskHandle_t,
  hbDNNTensor,
} from '../../src/dnn/types.js';
import { HB_SYS_INVALID_ARGUMENT, hbSysGetLastError } from '../../src/status.js';
import {
  alloc,
  ctrl,
  expected,
  fails,
  free,
  loadModels,
  ok,
  publicStandin,
  snap,
  tensorProperties,
  writeModel,
} from './dnn-harness.js';

const s = publicStandin('C-1.24.5');
const SLOW_MS = 300;

const MODELS = `hbsys-standin-model 1
model fast
input  x type=U8 layout=NHWC valid=1x1x1x16
output y type=U8 layout=NHWC valid=1x1x1x16 k=1 b=1
model slow delay_ms=${SLOW_MS}
input  x type=U8 layout=NHWC valid=1x1x1x16
output y type=U8 layout=NHWC valid=1x1x1x16 k=2 b=0
model broken fail=1
input  x type=U8 layout=NHWC valid=1x1x1x16
output y type=U8 layout=NHWC valid=1x1x1x16
`;

const { packed, handle: model } = loadModels(s, writeModel(MODELS));
const fast = model('fast');
const slow = model('slow');
const broken = model('broken');

const props = (m: hbDNNHandle_t, side: 'input' | 'output') => tensorProperties(s, m, side);

/** An input holding 0, 1, …, 15 and an output filled with 0xee, for model `m`. */
function tensors(m: hbDNNHandle_t) {
  const input: hbDNNTensor = { sysMem: [alloc(s, 16)], properties: props(m, 'input') };
  input.sysMem[0]!.virAddr!.set(new Uint8Array(16).map((_, i) => i));
  const output: hbDNNTensor = { sysMem: [alloc(s, 16)], properties: props(m, 'output') };
  output.sysMem[0]!.virAddr!.fill(0xee);
  return {
    input,
    output,
    out: () => output.sysMem[0]!.virAddr!.slice(),
    free: () => {
      free(s, input.sysMem[0]!);
      free(s, output.sysMem[0]!);
    },
  };
}

function submit(m: hbDNNHandle_t, t: ReturnType<typeof tensors>, more = 0): hbDNNTaskHandle_t {
  const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
  ok(s.api.hbDNNInfer(task, [t.output], [t.input], m, ctrl({ more })));
  return task.value!;
}

const IN = new Uint8Array(16).map((_, i) => i);

/** Polls until C holds no task (tasks released while running end on their own). */
async function untilCHoldsNoTask(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (s.extras.liveTasks() > 0 || s.dnn.heldBlocks() > 0) {
    assert.ok(Date.now() < deadline, `C still holds ${s.extras.liveTasks()} task(s)`);
    await sleep(10);
  }
}

describe('more: batching models into one task', () => {
  test('nothing runs until the call without more; one wait, one release', async () => {
    const a = tensors(fast);
    const b = tensors(slow);
    const c = tensors(fast);
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    ok(s.api.hbDNNInfer(task, [a.output], [a.input], fast, ctrl({ more: 1 })));
    const handle = task.value!;
    ok(s.api.hbDNNInfer(task, [b.output], [b.input], slow, ctrl({ more: true })));
    assert.equal(task.value, handle, 'appending keeps the handle');
    fails(s.api.hbDNNWaitTaskDone(handle, 0), HB_DNN_API_USE_ERROR, /more = 0 closes it/);
    assert.equal(await s.dnn.taskDone(handle), HB_DNN_API_USE_ERROR);
    await sleep(50);
    assert.deepEqual(a.out(), new Uint8Array(16).fill(0xee), 'ran before the batch was closed');
    const started = Date.now();
    ok(s.api.hbDNNInfer(task, [c.output], [c.input], fast, ctrl()));
    ok(s.api.hbDNNWaitTaskDone(handle, 0));
    assert.ok(Date.now() - started >= SLOW_MS - 20, 'the wait covered the slow model');
    assert.deepEqual(a.out(), expected(IN, 16, 16, 1, 1));
    assert.deepEqual(b.out(), expected(IN, 16, 16, 2, 0));
    assert.deepEqual(c.out(), expected(IN, 16, 16, 1, 1));
    // A closed task takes no more models.
    fails(
      s.api.hbDNNInfer(task, [a.output], [a.input], fast, ctrl()),
      HB_DNN_API_USE_ERROR,
      /task.value must be null/,
    );
    assert.equal(task.value, handle);
    ok(s.api.hbDNNReleaseTask(handle));
    assert.equal(s.extras.liveTasks(), 0);
    assert.equal(s.dnn.heldBlocks(), 0);
    for (const t of [a, b, c]) t.free();
  });

  test('at most 255 models in one task, refused before C; an open task is released at once', () => {
    const t = tensors(fast);
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    for (let i = 0; i < 255; i++) {
      ok(s.api.hbDNNInfer(task, [t.output], [t.input], fast, ctrl({ more: 1 })));
    }
    assert.equal(s.dnn.heldBlocks(), 255);
    const calls = s.extras.callCount();
    fails(
      s.api.hbDNNInfer(task, [t.output], [t.input], fast, ctrl({ more: 1 })),
      HB_DNN_TASK_BATCH_SIZE_EXCEED_LIMIT,
      /at most 255/,
    );
    assert.equal(s.extras.callCount(), calls, 'the 256th reached C');
    ok(s.api.hbDNNReleaseTask(task.value!));
    assert.equal(s.extras.liveTasks(), 0, 'a task that never ran is gone at once');
    assert.equal(s.dnn.heldBlocks(), 0);
    assert.deepEqual(t.out(), new Uint8Array(16).fill(0xee));
    t.free();
  });
});

describe('waiting', () => {
  test('a timeout is real; 0 or less waits until done; a second wait says the same', () => {
    const t = tensors(slow);
    const started = Date.now();
    const task = submit(slow, t);
    fails(s.api.hbDNNWaitTaskDone(task, 30), HB_DNN_TIMEOUT, /within 30 ms: wait again/);
    const timedOut = Date.now() - started;
    assert.ok(timedOut >= 25 && timedOut < SLOW_MS, `timed out after ${timedOut} ms`);
    assert.deepEqual(t.out(), new Uint8Array(16).fill(0xee));
    ok(s.api.hbDNNWaitTaskDone(task, -1));
    assert.ok(Date.now() - started >= SLOW_MS - 20);
    assert.deepEqual(t.out(), expected(IN, 16, 16, 2, 0));
    assert.equal(s.dnn.heldBlocks(), 0, 'completed: its arrays are freed');
    ok(s.api.hbDNNWaitTaskDone(task, 0));
    ok(s.api.hbDNNReleaseTask(task));
    t.free();
  });

  test('taskDone: a promise; the event loop runs while the task does', async () => {
    const t = tensors(slow);
    const task = submit(slow, t);
    let ticks = 0;
    // A loop blocked for the task's 300 ms would tick once at most, late; under qemu on a
    // busy machine a free one ticks far fewer than 15 times, but more than once.
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    const [a, b] = await Promise.all([s.dnn.taskDone(task), s.dnn.taskDone(task)]);
    clearInterval(timer);
    assert.deepEqual([a, b], [0, 0]);
    assert.ok(Date.now() - started >= SLOW_MS - 20);
    assert.ok(ticks >= 2, `the event loop ran ${ticks} times`);
    assert.deepEqual(t.out(), expected(IN, 16, 16, 2, 0));
    assert.equal(await s.dnn.taskDone(task), 0, 'a completed task resolves at once');
    ok(s.api.hbDNNReleaseTask(task));
    assert.equal(s.extras.liveTasks(), 0);
    t.free();
  });

  test('in a worker thread: the wait blocks the worker in C, the main thread runs on', async () => {
    const file = writeModel(MODELS);
    const worker = new Worker(new URL('./dnn-worker-fixture.js', import.meta.url), {
      workerData: { file, model: 'slow' },
    });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const [reply] = (await once(worker, 'message')) as [
      { code: number; out: number[]; blockedMs: number },
    ];
    clearInterval(timer);
    assert.equal(reply.code, 0);
    assert.deepEqual(reply.out, [...expected(IN, 16, 16, 2, 0)]);
    assert.ok(reply.blockedMs >= SLOW_MS - 20, `the worker waited ${reply.blockedMs} ms`);
    assert.ok(ticks >= 2, `the main thread ran ${ticks} times meanwhile`);
    await once(worker, 'exit');
  });

  test('a task that fails: its code, with libdnn’s own words', async () => {
    const t = tensors(broken);
    const task = submit(broken, t);
    fails(
      s.api.hbDNNWaitTaskDone(task, 0),
      HB_DNN_RUN_TASK_FAILED,
      /HB_DNN_RUN_TASK_FAILED.*libdnn says: stand-in: the model was told to fail/,
    );
    assert.equal(await s.dnn.taskDone(task), HB_DNN_RUN_TASK_FAILED);
    assert.equal(s.dnn.heldBlocks(), 0);
    ok(s.api.hbDNNReleaseTask(task));
    const again = submit(broken, t);
    assert.equal(await s.dnn.taskDone(again), HB_DNN_RUN_TASK_FAILED);
    assert.equal(hbDNNGetLastError()?.fn, 'hbDNNWaitTaskDone');
    ok(s.api.hbDNNReleaseTask(again));
    assert.deepEqual(t.out(), new Uint8Array(16).fill(0xee));
    t.free();
  });
});

describe('releasing', () => {
  test('before completion: the handle dies at once, C gets the release when the task ends', async () => {
    const t = tensors(slow);
    const task = submit(slow, t);
    ok(s.api.hbDNNReleaseTask(task));
    fails(s.api.hbDNNWaitTaskDone(task, 0), HB_DNN_INVALID_TASK_HANDLE, /released/);
    fails(s.api.hbDNNReleaseTask(task), HB_DNN_INVALID_TASK_HANDLE, /released once/);
    assert.equal(s.extras.liveTasks(), 1, 'C still runs it');
    assert.equal(s.dnn.heldBlocks(), 1, 'its tensor array is still C’s to read');
    fails(s.api.hbDNNRelease(packed), HB_DNN_MODEL_IS_RUNNING, /released before completing/);
    // C still writes its output: the memory is not freed under it.
    for (const mem of [t.input.sysMem[0]!, t.output.sysMem[0]!]) {
      assert.equal(s.sys.freeMem(snap(mem)), HB_SYS_INVALID_ARGUMENT);
      assert.match(hbSysGetLastError()!.message, /released before it completed.*try again/);
      assert.ok(mem.virAddr !== null, 'nothing was freed');
    }
    await untilCHoldsNoTask();
    // It ran to the end with its arrays intact (the stand-in re-reads them on its thread).
    assert.deepEqual(t.out(), expected(IN, 16, 16, 2, 0));
    t.free();
  });

  test('a pending promise settles with the handle code when the task is released', async () => {
    const t = tensors(slow);
    const task = submit(slow, t);
    const done = s.dnn.taskDone(task);
    await sleep(10); // the asynchronous wait is in flight in a koffi worker
    ok(s.api.hbDNNReleaseTask(task));
    assert.equal(await done, HB_DNN_INVALID_TASK_HANDLE);
    await untilCHoldsNoTask();
    t.free();
  });

  test('32 live tasks at most, refused before C; hbDNNRelease waits for none', async () => {
    const t = tensors(slow);
    const handles = Array.from({ length: 32 }, () => submit(slow, t));
    const calls = s.extras.callCount();
    const task: hbDNNOut<hbDNNTaskHandle_t | null> = { value: null };
    fails(
      s.api.hbDNNInfer(task, [t.output], [t.input], slow, ctrl()),
      HB_DNN_TASK_NUM_EXCEED_LIMIT,
      /32 hbDNNInfer tasks are live.*release them/,
    );
    assert.equal(s.extras.callCount(), calls);
    assert.equal(task.value, null);
    fails(s.api.hbDNNRelease(packed), HB_DNN_MODEL_IS_RUNNING, /32 task\(s\).*hbDNNReleaseTask/);
    for (const h of handles) ok(s.api.hbDNNReleaseTask(h));
    fails(
      s.api.hbDNNInfer(task, [t.output], [t.input], slow, ctrl()),
      HB_DNN_TASK_NUM_EXCEED_LIMIT,
      /32 released but still running/,
    );
    await untilCHoldsNoTask();
    const f = tensors(fast);
    const next = submit(fast, f);
    ok(s.api.hbDNNWaitTaskDone(next, 0));
    ok(s.api.hbDNNReleaseTask(next));
    t.free();
    f.free();
  });
});
